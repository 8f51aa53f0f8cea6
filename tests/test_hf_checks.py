"""transformers.utils.torch_compilable_check as translated (runtime/hf/plumbing.py):
it raises as torch's does eagerly, and under jax.jit, where the condition is
traced, it states an assumption only (as torch's does while tracing)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from torch2nnx.runtime.hf.plumbing import torch_compilable_check


def test_false_condition_raises_the_error_type_with_the_message():
    with pytest.raises(ValueError, match="one eos"):
        torch_compilable_check(jnp.array([True, False]), lambda: "one eos per sequence")
    with pytest.raises(IndexError, match="short"):
        torch_compilable_check(lambda: False, "short", error_type=IndexError)
    assert torch_compilable_check(jnp.ones(3) > 0, "never") is None


def test_under_jit_a_traced_condition_is_an_assumption():
    @jax.jit
    def f(x):
        torch_compilable_check(x.sum() > 100.0, "never raised under jit")
        return x * 2

    assert jnp.array_equal(f(jnp.ones(2)), jnp.full(2, 2.0))
