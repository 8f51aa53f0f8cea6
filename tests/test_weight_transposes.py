"""A torch layer's weight transposed or contracted by hand (``x @ fc.weight.T``,
``fc.weight.t()``, ``F.linear(x, fc.weight)``, ``torch.einsum(..., fc.weight)``):
NNX holds a Linear's kernel as (in, out), already torch's transpose, so the
translation reads torch's (out, in) matrix's numbers; on a layer the analysis
can type (the kernel's order is a tag: ``.T`` only moves the tag) and on one it
cannot (``torch_layer_attr``: read in torch's order at run time,
``torch_weight_value``), while writes still land in the Variable."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# a square Linear (8 -> 8) too: reading the kernel for torch's weight gives the
# right shape and wrong numbers there, the silent case
TYPED = HEADER + textwrap.dedent("""
    def make_fc(i, o):
        return nn.Linear(i, o)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 6)
            self.sq = nn.Linear(8, 8)
            self.g = make_fc(8, 8)
            self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(2)])
            self.n_out = self.fc.weight.shape[0]

        def forward(self, x):
            a = F.linear(x, self.fc.weight)
            b = x @ self.sq.weight.T
            c = x @ self.sq.weight.t()
            w = self.sq.weight
            d = torch.matmul(x, w.T) + self.g.weight.T[0] + self.blocks[1].weight.t()[:, 0]
            e = torch.mm(x, self.fc.weight.transpose(0, 1)) * (self.fc.weight.shape[0] + self.n_out)
            f = torch.einsum("bi,oi->bo", x, self.sq.weight)
            g = self.sq.weight.T.sum(0)
            return a, b, c, d, e, f, g
""")


def test_weight_transposed_on_a_typed_layer(tmp_path):
    result, tmod, jmod, wmod = translate_files(TYPED, tmp_path)
    assert result.todo_count == 0, result.code
    assert "x @ self.sq.kernel\n" in result.code, result.code  # .T moves the tag, not the data
    run_parity(result, tmod, jmod, wmod, "Net", [rand(3, 8)], jit=True)


UNTYPED = HEADER + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, layer_fn=nn.Linear):
            super().__init__()
            self.fc = layer_fn(8, 8)
            self.n = self.fc.weight.shape[0]
            nn.init.normal_(self.fc.weight, 0.0, 2.0)
            self.fc.weight.data.mul_(0.5)

        def forward(self, x):
            a = F.linear(x, self.fc.weight)
            b = x @ self.fc.weight.T
            w = self.fc.weight
            d = w.shape[0] + self.n + w.size(1)
            e = x * w[:, 0] + w.sum(1) + w.t()[0]
            return a * d, b, e
""")


def test_weight_transposed_on_a_layer_known_at_run_time(tmp_path):
    result, tmod, jmod, wmod = translate_files(UNTYPED, tmp_path)
    assert result.todo_count == 0, result.code
    assert "torch_weight_value(" in result.code
    # the in-place writes reach the layer's Variable, not a transposed copy
    assert 'inplace_set(\n            torch_layer_attr(self.fc, "weight")' in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(3, 8)], jit=True)
