"""The torch math rows (rules/jnp_table.py, rules/math_rows.py): arguments a row
cannot honour exactly are marked, and arguments given as expressions are
decided at run time. (Each row's own examples run in tests/test_rules.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import torch2nnx
from harness import make_input, run_parity, translate_files

HEAD = "import torch\nimport torch.nn as nn\n\n\nclass M(nn.Module):\n"


def module(init_args: str, init: str, forward_args: str, body: str) -> str:
    return (HEAD + f"    def __init__(self{init_args}):\n        super().__init__()\n        {init}\n\n"
            f"    def forward(self, {forward_args}):\n        return {body}\n")


REFUSED = [
    # jnp's 'nearest' rounds a half rank down, torch's to even
    ("quantile-nearest", "torch.quantile(x, 0.375, interpolation='nearest')", "interpolation"),
    ("quantile-unknown", "torch.quantile(x, 0.5, interpolation=self.mode)", "interpolation=self.mode"),
    ("searchsorted-sorter", "torch.searchsorted(x, x, sorter=x.argsort())", "sorter"),
    ("bucketize-right-unknown", "torch.bucketize(x, x, right=self.mode)", "right=self.mode"),
    ("table-out", "torch.nansum(x, 1, out=x)", "out"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_arguments_are_marked(case):
    _, call, what = case
    source = module("", "self.mode = 'linear'", "x", call)
    result = torch2nnx.translate(source, "model.py", module_name="model_nnx")
    assert result.todo_count >= 1, result.code
    messages = [d.format() for d in result.diagnostics if d.needs_todo]
    assert any(what in m for m in messages), messages
    compile(result.code, "model_nnx.py", "exec")


RUN_TIME = [
    # beta and alpha read off the module: the general form, not the literal shortcuts
    ("addmm-attrs", ", beta=0.0, alpha=2.0", "self.beta, self.alpha = beta, alpha", "x, y, z",
     "torch.addmm(x, y, z, beta=self.beta, alpha=self.alpha)", ("float32[3,5]", "float32[3,4]", "float32[4,5]")),
    # a negative start held in an attribute counts from the end, as torch's
    ("narrow-negative-attr", ", start=-3", "self.start = start", "x", "x.narrow(1, self.start, 2)",
     ("float32[3,6]",)),
    ("median-dim-attr", ", dim=1", "self.dim = dim", "x", "x.median(self.dim)[0]", ("float32[3,6]",)),
]


@pytest.mark.parametrize("case", RUN_TIME, ids=[c[0] for c in RUN_TIME])
def test_arguments_decided_at_run_time(case, tmp_path):
    _, init_args, init, fargs, body, specs = case
    result, tmod, jmod, wmod = translate_files(module(init_args, init, fargs, body), tmp_path)
    assert result.todo_count == 0, result.code
    rng = np.random.default_rng(0)
    run_parity(result, tmod, jmod, wmod, "M", [make_input(s, rng) for s in specs], jit=True)
