"""A module slot declared None that may later hold a stateless layer (timm's
hieradet: ``self.pool = None`` then ``nn.MaxPool2d(...)``, a function in NNX):
None stays static and the layer goes through data_slot, so ``nnx.jit`` never
takes the function for an array; a slot that only ever holds a layer with state
is still ``nnx.data(None)``."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

SRC = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent("""
    class Block(nn.Module):
        def __init__(self, dim, q_stride=None, proj=False):
            super().__init__()
            self.pool = None
            if q_stride:
                self.pool = nn.MaxPool2d(kernel_size=q_stride, stride=q_stride)
            self.proj = None
            if proj:
                self.proj = nn.Conv2d(dim, dim, 1)
            self.conv = nn.Conv2d(dim, dim, 3, padding=1)

        def forward(self, x):
            if self.pool is not None:
                x = self.pool(x)
            if self.proj is not None:
                x = self.proj(x)
            return self.conv(x)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Block(4, q_stride=2, proj=True)
            self.b = Block(4)

        def forward(self, x):
            return self.b(self.a(x))
""")


def test_none_slot_later_holding_a_stateless_layer_is_jit_stable(tmp_path):
    result, tmod, jmod, wmod = translate_files(SRC, tmp_path)
    assert result.todo_count == 0, result.code
    assert "self.pool = None" in result.code and "self.proj = nnx.data(None)" in result.code, result.code
    x = np.random.default_rng(0).standard_normal((2, 4, 8, 8)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=True)
