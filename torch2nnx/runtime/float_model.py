"""torch's quantization-ready float modules and BatchNorm folding, in a float
model: FloatFunctional's ops are the plain ops, fusing folds the statistics."""

import jax
import jax.numpy as jnp
from flax import nnx


class FloatFunctional(nnx.Module):
    """torch.ao.nn.quantized.FloatFunctional: in a float model its methods are the
    plain ops (torch's observer, activation_post_process, is the identity there)."""

    def add(self, x, y):
        return x + y

    def add_scalar(self, x, y):
        return x + y

    def mul(self, x, y):
        return x * y

    def mul_scalar(self, x, y):
        return x * y

    def cat(self, x, dim=0):
        return jnp.concatenate(x, axis=dim)

    def add_relu(self, x, y):
        return jax.nn.relu(x + y)

    def matmul(self, x, y):
        return jnp.matmul(x, y)


def fuse_conv_bn_eval(conv, bn, transpose=False):
    """torch.nn.utils.fusion.fuse_conv_bn_eval: a copy of ``conv`` computing
    bn(conv(x)) with bn's running statistics folded into its kernel and bias.
    The output channels are the kernel's last axis (nnx.Conv and ConvTranspose)."""
    fused = nnx.clone(conv)
    kernel = conv.kernel.get_value()
    mean, var = bn.mean.get_value(), bn.var.get_value()
    scale = bn.scale.get_value() if bn.scale is not None else jnp.ones_like(mean)
    shift = bn.bias.get_value() if bn.bias is not None else jnp.zeros_like(mean)
    bias = conv.bias.get_value() if conv.bias is not None else jnp.zeros_like(mean)
    factor = scale * jax.lax.rsqrt(var + bn.epsilon)
    fused.kernel = nnx.Param((kernel * factor).astype(kernel.dtype))
    fused.bias = nnx.Param(((bias - mean) * factor + shift).astype(kernel.dtype))
    fused.use_bias = True
    return fused


def fuse_modules(model, modules_to_fuse, is_qat=False, inplace=False, fuser_func=None, fuse_custom_config_dict=None):
    """torch.ao.quantization.fuse_modules (is_qat: fuse_modules_qat): each group of
    submodules (dotted paths) becomes one. The first computes the group in sequence,
    a BatchNorm right after a conv or linear folded into it (eval: torch's fusion;
    for QAT it stays, as in torch's ConvBn modules); the others become the identity."""
    if fuser_func is not None or fuse_custom_config_dict:
        raise NotImplementedError("fuse_modules with a custom fuser: only torch's default fusion is translated")
    if not inplace:
        model = nnx.clone(model)
    groups = [modules_to_fuse] if all(isinstance(n, str) for n in modules_to_fuse) else modules_to_fuse
    for names in groups:
        first, *rest = [_submodule(model, n.split(".")) for n in names]
        if not is_qat and rest and isinstance(rest[0], nnx.BatchNorm) \
                and isinstance(first, (nnx.Conv, nnx.ConvTranspose, nnx.Linear)):
            if not rest[0].use_running_average:
                raise AssertionError("Fusion only for eval!")
            first = fuse_conv_bn_eval(first, rest.pop(0))
        _set_submodule(model, names[0].split("."), nnx.Sequential(first, *rest) if rest else first)
        for n in names[1:]:
            # a module's place takes a module, a function's (a stateless layer's) a function
            gone = _submodule(model, n.split("."))
            _set_submodule(model, n.split("."), FusedAway() if isinstance(gone, nnx.Module) else (lambda x: x))
    return model


class FusedAway(nnx.Module):
    """What fusion leaves where a fused module was: the identity (torch's nn.Identity), as
    a module (NNX keeps a module attribute's place for data, a function's for static values)."""

    def __call__(self, x):
        return x


def _submodule(model, path):
    for name in path:
        if isinstance(model, nnx.Sequential):
            model = model.layers[int(name)]
        elif name.isdigit() and not hasattr(model, name):
            model = model[int(name)]
        else:
            model = getattr(model, name)
    return model


def _set_submodule(model, path, value):
    parent, name = _submodule(model, path[:-1]), path[-1]
    if isinstance(parent, nnx.Sequential):
        parent.layers[int(name)] = value
    elif name.isdigit() and not hasattr(parent, name):
        parent[int(name)] = value
    else:
        setattr(parent, name, value)
