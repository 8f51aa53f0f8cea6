"""Tests generated from the rule rows: every example of every row is
translated, checked for its expected fragment, and run for numeric parity."""

from __future__ import annotations

import pytest

from harness import translate_files
from torch2nnx.rules import registry
from torch2nnx.rules.check import check_example
from torch2nnx.rules.examples import TRAINING, example_source, is_constant
from training_parity import check_training

RULES = registry.all_rules()
CASES = [(r, i, e) for r in RULES for i, e in enumerate(r.examples)]


def case_id(case):
    r, i, _ = case
    return f"{r.name}-{i}"


def test_every_row_has_an_example():
    missing = [r.name for r in RULES if not r.examples]
    assert not missing, f"rows without examples: {missing}"


def _dtype_name(value) -> str:
    import jax.numpy as jnp

    return str(jnp.zeros(1, dtype=value).dtype)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_row_example(case, tmp_path):
    rule, i, ex = case
    if "torchvision" in ex.torch:
        pytest.importorskip("torchvision")
    if is_constant(rule, ex):
        _check_constant(rule, ex, tmp_path)
        return
    source = example_source(rule, ex)
    if ex.where in TRAINING:
        check_training(rule, ex, source, tmp_path)
        return
    # what `torch2nnx rules --check` runs on user rows (rules/check.py)
    check_example(rule, i, ex, tmp_path)


def _check_constant(rule, ex, tmp_path):
    """Constants: the translation names the JAX counterpart (dtypes by value)."""
    import math

    import jax
    import torch
    from flax import nnx

    result, tmod, jmod, wmod = translate_files(example_source(rule, ex), tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    t_value, j_value = tmod.VALUE, jmod.VALUE
    if isinstance(t_value, torch.dtype):
        expected = str(t_value).replace("torch.", "")
        expected = {"int64": "int32", "float64": "float32"}.get(expected, expected)  # x64 disabled
        assert _dtype_name(j_value) == expected
    elif t_value is torch.Tensor:
        assert j_value is jax.Array
    elif t_value is torch.nn.Module:
        assert j_value is nnx.Module
    elif t_value is torch.optim.Optimizer:
        assert j_value is nnx.Optimizer
    elif t_value is torch.nn.Parameter:
        assert j_value is nnx.Param
    elif type(t_value).__name__ == "tensortype":
        assert j_value is jax.Array  # the legacy typed classes (torch.LongTensor)
    elif t_value in (torch.device, torch.dtype):
        import jax.numpy as jnp

        assert j_value is {torch.device: jax.Device, torch.dtype: jnp.dtype}[t_value]
    elif isinstance(t_value, float):
        assert (math.isnan(t_value) and math.isnan(j_value)) or t_value == j_value
    else:
        assert t_value == j_value  # typing's special forms (torch.jit.Final is typing.Final)
