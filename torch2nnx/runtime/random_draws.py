"""torch's random functions drawing from an nnx.Rngs stream's keys."""

import jax
import jax.numpy as jnp


def random_normal(key, mean, std, size=None, dtype=None):
    """torch.normal: a tensor mean and/or std (the draw has their broadcast shape),
    or float mean and std with ``size``."""
    mean, std = jnp.asarray(mean), jnp.asarray(std)
    shape = tuple(size) if size is not None else jnp.broadcast_shapes(mean.shape, std.shape)
    dtype = dtype or jnp.result_type(mean.dtype, std.dtype, jnp.float32)
    return (mean + std * jax.random.normal(key, shape, dtype)).astype(dtype)


def random_randint(key, low, high, shape, dtype=None):
    """torch.randint: integers in [low, high); a float ``dtype`` gets them as floats."""
    dtype = jnp.dtype(dtype or jnp.int32)
    int_dtype = dtype if jnp.issubdtype(dtype, jnp.integer) else jnp.int32
    return jax.random.randint(key, tuple(shape), low, high, int_dtype).astype(dtype)
