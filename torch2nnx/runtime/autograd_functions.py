"""torch.autograd.Function: a forward with a hand-written backward, as jax.custom_vjp."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


class FunctionCtx:
    """torch's ``ctx`` of an autograd Function: what forward keeps for backward.
    Tensors saved with ``save_for_backward`` and any other array it is given are
    carried to backward as the custom VJP's residuals; sizes and flags as they are."""

    def __init__(self, n_inputs):
        self.saved_tensors = ()
        self.needs_input_grad = (True,) * n_inputs

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def mark_dirty(self, *tensors):
        pass  # JAX arrays are never written in place

    def mark_non_differentiable(self, *outputs):
        pass  # their cotangents are zeros

    def set_materialize_grads(self, value):
        pass  # cotangents JAX hands backward are always arrays


def _is_array(value):
    return isinstance(value, (jax.Array, np.ndarray, nnx.Variable))


def _zero_cotangent(x):
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return jnp.zeros(x.shape, x.dtype)
    return np.zeros(x.shape, jax.dtypes.float0)  # integer inputs (indices) take no gradient


class TorchFunction:
    """torch.autograd.Function: ``apply(*args)`` runs the class's ``forward(ctx,
    *args)``; under ``jax.grad`` the gradients are its ``backward(ctx, *grads)``,
    as torch's autograd uses them (``jax.custom_vjp``). Array arguments are the
    differentiated inputs; the others (sizes, flags) are constants of the call, and
    the gradients backward returns for them (None in torch) are dropped."""

    @classmethod
    def apply(cls, *args):
        args = [a[...] if isinstance(a, nnx.Variable) else a for a in args]
        where = [i for i, a in enumerate(args) if _is_array(a)]
        kept = {}  # what forward's ctx held besides arrays: handed to backward as it is

        def run(ctx, arrays):
            full = list(args)
            for i, a in zip(where, arrays):
                full[i] = a
            return cls.forward(ctx, *full)

        @jax.custom_vjp
        def function(*arrays):
            return run(FunctionCtx(len(args)), arrays)

        def forward(*arrays):
            ctx = FunctionCtx(len(args))
            out = run(ctx, arrays)
            leaves, kept["tree"] = jax.tree_util.tree_flatten(vars(ctx))
            kept["leaves"] = [None if _is_array(v) else v for v in leaves]
            kept["inputs"] = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in arrays]
            kept["tuple"] = isinstance(out, tuple)
            return out, tuple(v for v in leaves if _is_array(v))

        def backward(residuals, grads):
            arrays = iter(residuals)
            leaves = [next(arrays) if v is None else v for v in kept["leaves"]]
            ctx = FunctionCtx(len(args))
            vars(ctx).update(jax.tree_util.tree_unflatten(kept["tree"], leaves))
            out = cls.backward(ctx, *(grads if kept["tuple"] else (grads,)))
            out = out if isinstance(out, tuple) else (out,)
            cotangents = []
            for j, i in enumerate(where):
                g = out[i] if i < len(out) else None
                x = kept["inputs"][j]
                cotangents.append(_zero_cotangent(x) if g is None or not jnp.issubdtype(x.dtype, jnp.inexact)
                                  else jnp.broadcast_to(jnp.asarray(g, x.dtype), x.shape))
            return tuple(cotangents)

        function.defvjp(forward, backward)
        return function(*(args[i] for i in where))
