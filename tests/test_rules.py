"""Tests generated from the rule rows: every example of every row is
translated, checked for its expected fragment, and run for numeric parity."""

from __future__ import annotations

import re

import numpy as np
import pytest

from harness import make_input, run_parity, translate_files
from torch2nnx.rules import registry

HEADER = """import collections
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

"""

RULES = registry.all_rules()
CASES = [(r, i, e) for r in RULES for i, e in enumerate(r.examples)]


def case_id(case):
    r, i, _ = case
    return f"{r.name}-{i}"


def test_every_row_has_an_example():
    missing = [r.name for r in RULES if not r.examples]
    assert not missing, f"rows without examples: {missing}"


def _pre(inputs, channels_last):
    """Layers that put inputs channels-last (a 1x1 conv), so dims get remapped."""
    init, fwd = [], []
    if not channels_last:
        return init, fwd
    for i, spec in enumerate(inputs):
        shape = [int(s) for s in re.search(r"\[(.*)\]", spec).group(1).split(",")]
        if len(shape) < 3 or not spec.startswith("float"):
            continue
        nd = len(shape) - 2
        init.append(f"self.pre{i} = nn.Conv{nd}d({shape[1]}, {shape[1]}, 1)")
        fwd.append(f"{_NAMES[i]} = self.pre{i}({_NAMES[i]})")
    return init, fwd


_NAMES = ["x", "y", "z", "w"]


def layer_source(rule, ex) -> str:
    init, fwd = _pre(ex.inputs, ex.channels_last)
    init.append(f"self.layer = {ex.torch}")
    if rule.name == "torch.nn.ModuleList":
        fwd.append("for m in self.layer:\n            x = m(x)\n        return x")
    elif rule.name == "torch.nn.ModuleDict":
        fwd.append("return self.layer['a'](x) + 2 * self.layer['b'](x)")
    else:
        fwd.append("return self.layer(x)")
    return _module(init, fwd, ["x"])


def op_source(rule, ex) -> str:
    names = _NAMES[: len(ex.inputs)]
    init, fwd = _pre(ex.inputs, ex.channels_last)
    if ex.where == "init":
        init.append(f"self.value = {ex.torch}")
        fwd.append("return self.value * 1.0")
    else:
        fwd.append(f"return {ex.torch}")
    return _module(init, fwd, names)


def _module(init, fwd, names) -> str:
    init_body = "\n        ".join(["super().__init__()"] + init)
    fwd_body = "\n        ".join(fwd)
    return (HEADER + "class M(nn.Module):\n    def __init__(self):\n        " + init_body
            + f"\n\n    def forward(self{''.join(', ' + n for n in names)}):\n        " + fwd_body + "\n")


def _dtype_name(value) -> str:
    import jax.numpy as jnp

    return str(jnp.zeros(1, dtype=value).dtype)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_row_example(case, tmp_path):
    rule, i, ex = case
    if rule.layout.kind == "other" and rule.name.startswith(("torch.", "torch.nn.Module")) and not ex.inputs \
            and not rule.name.startswith("Tensor."):
        _check_constant(rule, ex, tmp_path)
        return
    source = layer_source(rule, ex) if rule.layer else op_source(rule, ex)
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
    import jax.numpy as jnp
    import torch
    from flax import nnx

    source = HEADER + f"VALUE = {ex.torch}\n"
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
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
    else:
        assert (math.isnan(t_value) and math.isnan(j_value)) or t_value == j_value
