"""A buffer registered from a local that may be None (optional_values.py):
timm's swin registers ``attn_mask = self.get_attn_mask()`` -- a mask, or None
when the window is not shifted -- and the forward pass asks ``mask is not
None``. The translation holds None there too, not a Variable wrapping None."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

SOURCE = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent("""
    class Block(nn.Module):
        def __init__(self, dim=8, shift=0):
            super().__init__()
            self.shift = shift
            self.fc = nn.Linear(dim, dim)
            self.register_buffer("mask", None, persistent=False)
            self._init_buffers()

        def get_mask(self, dim):
            if self.shift:
                mask = torch.arange(dim, dtype=torch.float32) * 0.1
            else:
                mask = None
            return mask

        def _init_buffers(self):
            mask = self.get_mask(self.fc.in_features)
            self.register_buffer("mask", mask, persistent=False)

        def forward(self, x):
            x = self.fc(x)
            if self.mask is not None:
                x = x + self.mask.reshape(1, -1)
            return x


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.blocks = nn.Sequential(Block(dim, shift=0), Block(dim, shift=1))

        def forward(self, x):
            return self.blocks(x)
""")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_buffer_from_a_local_that_may_be_none(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert result.todo_count == 0, result.code
    assert "NonPersistentBuffer(mask) if mask is not None else nnx.data(None)" in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)])
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)], jit=True)
