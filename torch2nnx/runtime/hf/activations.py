"""transformers' activation registry (``ACT2FN``, activations.py) in JAX, each
with torch's own formula: ``gelu`` is the exact (erf) GELU, ``gelu_new`` /
``gelu_pytorch_tanh`` / ``gelu_accurate`` the tanh approximation, ...

``ACT2FN[name]`` hands back a function (torch's registry builds a module with
no parameters; a function is the same thing, and needs no rngs at import time).
Copied into generated files like helpers.py.
"""

import math

import jax
import jax.numpy as jnp


def hf_gelu_tanh(x):
    """GELUTanh / NewGELUActivation / AccurateGELUActivation: the tanh approximation."""
    return 0.5 * x * (1.0 + jnp.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * jnp.power(x, 3.0))))


def hf_gelu_fast(x):
    """FastGELUActivation."""
    return 0.5 * x * (1.0 + jnp.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


def hf_laplace(x, mu=0.707107, sigma=0.282095):
    """LaplaceActivation."""
    x = (x - mu) / (sigma * math.sqrt(2.0))
    return 0.5 * (1.0 + jax.scipy.special.erf(x))


class ACT2FN:
    """``ACT2FN[name]``: the activation function torch's registry builds a layer for."""

    @staticmethod
    def _table():
        gelu = lambda x: jax.nn.gelu(x, approximate=False)  # noqa: E731  torch's exact erf form
        relu = jax.nn.relu
        return {
            "gelu": gelu,
            "gelu_10": lambda x: jnp.clip(gelu(x), -10, 10),
            "gelu_fast": hf_gelu_fast,
            "gelu_new": hf_gelu_tanh,
            "gelu_python": lambda x: x * 0.5 * (1.0 + jax.scipy.special.erf(x / math.sqrt(2.0))),
            "gelu_pytorch_tanh": hf_gelu_tanh,
            "gelu_python_tanh": hf_gelu_tanh,
            "gelu_accurate": hf_gelu_tanh,
            "hardswish": lambda x: x * jnp.clip(x + 3.0, 0.0, 6.0) / 6.0,
            "laplace": hf_laplace,
            "leaky_relu": lambda x: jnp.where(x >= 0, x, 0.01 * x),
            "linear": lambda x: x,
            "mish": lambda x: x * jnp.tanh(jax.nn.softplus(x)),
            "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
            "relu": relu,
            "relu2": lambda x: jnp.square(relu(x)),
            "relu6": lambda x: jnp.clip(x, 0.0, 6.0),
            "sigmoid": jax.nn.sigmoid,
            "silu": jax.nn.silu,
            "sqrtsoftplus": lambda x: jnp.sqrt(jax.nn.softplus(x)),
            "swish": jax.nn.silu,
            "tanh": jnp.tanh,
        }

    def __class_getitem__(cls, name):
        table = cls._table()
        if name not in table:
            # prelu and xielu hold parameters: not a function
            raise KeyError(f"activation {name!r} is not translated; available: {sorted(table)}")
        return table[name]

    @classmethod
    def get(cls, name, default=None):
        return cls._table().get(name, default)
