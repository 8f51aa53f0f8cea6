"""Torch API idioms met in real code (issue 13), each checked for numbers
(eval and under ``nnx.jit``) on a minimal model written here."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


HALO = HEADER + textwrap.dedent("""
    class Halo(nn.Module):
        def __init__(self, dim=4, block=2, halo=1):
            super().__init__()
            self.block, self.halo = block, halo
            self.win = block + 2 * halo
            self.kv = nn.Conv2d(3, dim, 1)

        def forward(self, x):
            B, C, H, W = x.shape
            kv = self.kv(x)
            kv = F.pad(kv, [self.halo, self.halo, self.halo, self.halo])
            kv = kv.unfold(2, self.win, self.block).unfold(3, self.win, self.block)
            kv = kv.reshape(B, -1, (H // self.block) * (W // self.block), self.win * self.win)
            return kv.permute(0, 2, 3, 1)
""")


def test_tensor_unfold_windows_of_a_channels_last_map(tmp_path):
    """``Tensor.unfold(dim, size, step)`` on a padded conv output (timm's halo
    attention): windows along H then W, the window axes last, read in torch's
    axis order by the reshape that follows."""
    result, tmod, jmod, wmod = translate_files(HALO, tmp_path)
    assert result.todo_count == 0, result.code
    assert "unfold_windows(" in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "Halo", [rand(2, 3, 6, 8)])
    run_parity(result, tmod, jmod, wmod, "Halo", [rand(2, 3, 6, 8)], jit=True)
