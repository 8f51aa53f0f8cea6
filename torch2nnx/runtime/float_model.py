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
