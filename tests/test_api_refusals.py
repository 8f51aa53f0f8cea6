"""Rows of issue 13 (torch.linalg, scatter, random) refuse the arguments they have
no exact JAX meaning for: the call is marked, never translated for another meaning."""

from __future__ import annotations

import textwrap

import pytest

import torch2nnx

HEADER = "import torch\nimport torch.nn as nn\n\n\n"

CASES = [
    # (expression in forward over x, idx, the code of the marker)
    ("torch.linalg.svd(x, driver='gesvd')[1]", "T2N002"),
    ("torch.linalg.lstsq(x, x, driver='gelsd').solution", "T2N002"),
    ("x.scatter_reduce(1, idx, x, 'median')", "T2N002"),
    ("x.scatter(1, idx, reduce='add')", "T2N002"),  # neither src nor value
    ("x.random_()", "T2N002"),  # torch's default range depends on the dtype
    ("torch.randint(0, 10, (3,), generator=torch.Generator())", "T2N005"),
    ("torch.linalg.qr(x, mode='economic')[0]", "T2N002"),
]


@pytest.mark.parametrize("expr, code", CASES, ids=[c[0] for c in CASES])
def test_an_argument_without_an_exact_meaning_is_marked(expr, code):
    source = HEADER + textwrap.dedent(f"""
        class M(nn.Module):
            def forward(self, x: torch.Tensor, idx: torch.Tensor):
                return {expr}
    """)
    result = torch2nnx.translate(source, "model.py", module_name="model_nnx")
    codes = [d.code for d in result.diagnostics if d.needs_todo]
    assert code in codes, result.code
    assert f"TODO(torch2nnx): {code}" in result.code, result.code


def test_a_method_common_on_other_objects_stays_theirs():
    """x.put / x.scatter / x.take are rewritten on tensors only: a queue's put stays."""
    source = HEADER + textwrap.dedent("""
        import queue


        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.q = queue.Queue()

            def forward(self, x: torch.Tensor, idx: torch.Tensor):
                self.q.put(1)
                return x.scatter(1, idx, 0.0).take(idx) + x.put(idx, x[0, :2])
    """)
    result = torch2nnx.translate(source, "model.py", module_name="model_nnx")
    assert "self.q.put(1)" in result.code, result.code
    assert "flat_put(x, idx" in result.code and "scatter(x, 1, idx, 0.0)" in result.code, result.code
    assert "TODO(torch2nnx)" not in result.code, result.code
