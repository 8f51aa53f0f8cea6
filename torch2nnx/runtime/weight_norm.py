"""torch's weight normalisation of a layer: its weight is g * v / ||v||, g and v
the parameters (held in torch's layout, as its state_dict has them)."""

import jax.numpy as jnp
from flax import nnx


class ComputedWeight(nnx.Variable):
    """A weight-normalised layer's own weight: computed from g and v at each call, no parameter."""


class WeightNorm(nnx.Module):
    """torch.nn.utils.weight_norm(layer, name="weight", dim=0): the layer's weight
    is weight_g * weight_v / ||weight_v||, the norm over every dim but ``dim`` (all of
    them for dim=None), both in torch's layout; the layer runs with that weight.
    Its Conv, ConvTranspose, Linear or Embed keeps its other parameters (bias).
    ``rngs``: taken as every translated layer constructor takes it, unused."""

    def __init__(self, layer, name="weight", dim=0, *, rngs=None):
        if name != "weight":
            raise NotImplementedError(f"weight_norm of {name!r}: only a layer's weight is translated")
        self.layer = layer
        self.dim = None if dim is None or dim == -1 else dim
        attr = "embedding" if isinstance(layer, nnx.Embed) else "kernel"
        w = _torch_weight(layer, getattr(layer, attr).get_value())
        self.weight_g = nnx.Param(_norm_except(w, self.dim))
        self.weight_v = nnx.Param(w)
        setattr(layer, attr, ComputedWeight(getattr(layer, attr).get_value()))

    def __call__(self, *args, **kwargs):
        v = self.weight_v.get_value()
        w = v * (self.weight_g.get_value() / _norm_except(v, self.dim))
        attr = "embedding" if isinstance(self.layer, nnx.Embed) else "kernel"
        getattr(self.layer, attr).set_value(_nnx_weight(self.layer, w))
        return self.layer(*args, **kwargs)


class ParametrizedWeightNorm(WeightNorm):
    """torch.nn.utils.parametrizations.weight_norm: the same weight; torch's state_dict
    names g and v parametrizations.weight.original0 / original1."""


class Parametrizations:
    """torch.nn.utils.parametrizations as a value (``hasattr(..., "weight_norm")``)."""

    weight_norm = ParametrizedWeightNorm


def _norm_except(v, dim):
    """torch's norm_except_dim(v, 2, dim): the 2-norm over every axis but ``dim``, kept."""
    if dim is None:
        return jnp.sqrt(jnp.sum(v * v))
    axes = tuple(i for i in range(v.ndim) if i != dim % v.ndim)
    return jnp.sqrt(jnp.sum(v * v, axis=axes, keepdims=True))


def _torch_weight(layer, kernel):
    """The NNX layer's weight in torch's layout (the weights module's transform, inverted)."""
    if isinstance(layer, nnx.Embed):
        return jnp.asarray(kernel)
    if isinstance(layer, nnx.Linear):
        return jnp.asarray(kernel).T
    nd = kernel.ndim - 2  # conv: (*kernel, in, out) -> (out, in, *kernel)
    return jnp.transpose(kernel, (nd + 1, nd) + tuple(range(nd)))


def _nnx_weight(layer, w):
    if isinstance(layer, nnx.Embed):
        return w
    if isinstance(layer, nnx.Linear):
        return w.T
    return jnp.transpose(w, tuple(range(2, w.ndim)) + (1, 0))
