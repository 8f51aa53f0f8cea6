"""Tests generated from the rule rows: every example of every row is
translated, checked for its expected fragment, and run for numeric parity."""

from __future__ import annotations

import re

import numpy as np
import pytest

from harness import make_input, run_parity, translate_files
from torch2nnx.rules import registry
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
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    todos = [d for d in result.diagnostics if d.needs_todo]
    assert not todos, "\n".join(d.format() for d in todos) + "\n" + result.code
    assert "TODO(torch2nnx)" not in result.code, result.code
    if ex.expect:
        squash = lambda s: re.sub(r"\s+|,(?=\s*\))", "", s).replace("'", '"')  # noqa: E731  black's formatting
        assert squash(ex.expect) in squash(result.code), f"{ex.expect!r} not in:\n{result.code}"
    rng = np.random.default_rng(i)
    inputs = [make_input(s, rng) for s in ex.inputs]
    run_parity(result, tmod, jmod, wmod, "M", inputs, train=False, atol=ex.atol, compare=ex.compare)
    if ex.train:
        run_parity(result, tmod, jmod, wmod, "M", inputs, train=True, atol=ex.atol, compare=ex.compare)


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
