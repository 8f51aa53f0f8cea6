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


def gumbel_softmax(key, logits, tau=1.0, hard=False, dim=-1):
    """F.gumbel_softmax: softmax((logits + Gumbel noise) / tau); ``hard``: the
    one-hot of its argmax forward, the soft sample's gradient backward."""
    gumbels = jax.random.gumbel(key, logits.shape, logits.dtype)
    y = jax.nn.softmax((logits + gumbels) / tau, axis=dim)
    if not hard:
        return y
    y_hard = jax.nn.one_hot(jnp.argmax(y, axis=dim), y.shape[dim], axis=dim, dtype=y.dtype)
    return y_hard - jax.lax.stop_gradient(y) + y


class Beta:
    """torch.distributions.Beta(concentration1, concentration0): draws from the
    key it is given (split for each draw), densities from jax.scipy."""

    def __init__(self, concentration1, concentration0, validate_args=None, *, key):
        self.concentration1, self.concentration0 = jnp.broadcast_arrays(
            jnp.asarray(concentration1, jnp.float32), jnp.asarray(concentration0, jnp.float32))
        self._key = key

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total ** 2 * (total + 1))

    def sample(self, sample_shape=()):
        self._key, key = jax.random.split(self._key)
        shape = tuple(sample_shape) + self.concentration1.shape
        return jax.random.beta(key, self.concentration1, self.concentration0, shape)

    rsample = sample

    def log_prob(self, value):
        return jax.scipy.stats.beta.logpdf(value, self.concentration1, self.concentration0)

    def entropy(self):
        a, b = self.concentration1, self.concentration0
        betaln = jax.scipy.special.betaln(a, b)
        dg = jax.scipy.special.digamma
        return betaln - (a - 1) * dg(a) - (b - 1) * dg(b) + (a + b - 2) * dg(a + b)
