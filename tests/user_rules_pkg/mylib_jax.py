"""mylib's NNX counterparts, which the translations import (no torch needed)."""

import jax
import jax.numpy as jnp
from flax import nnx


class ScaledLinear(nnx.Module):
    """mylib.layers.ScaledLinear: ``kernel`` is (in_f, out_f), torch's weight transposed."""

    def __init__(self, in_f: int, out_f: int, scale: float = 1.0, *, rngs: nnx.Rngs):
        self.kernel = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (in_f, out_f)))
        self.bias = nnx.Param(jnp.zeros((out_f,)))
        self.scale = scale

    def __call__(self, x):
        return self.scale * (x @ self.kernel[...] + self.bias[...])


def fused_gelu_bias(x, b):
    """mylib.ops.fused_gelu_bias: the jnp reference of the fused kernel."""
    return jax.nn.gelu(x + b, approximate=False)
