"""torch's bicubic interpolation (a = -0.75, borders clamped, no antialias) on a
parameter held in torch's NCHW order (timm's hieradet/sam position embedding
resized to the feature map, then added to channels-last tokens). The row's own
examples cover sizes, scale factors and both align_corners values."""

from __future__ import annotations

import numpy as np

from harness import make_input, run_parity, translate_files

SRC = '''import torch
import torch.nn as nn
import torch.nn.functional as F


class PosEmbed(nn.Module):
    def __init__(self, dim=8, size=(4, 5)):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, 3, stride=2, padding=1)
        self.pos_embed = nn.Parameter(torch.zeros(1, dim, *size))
        self.pos_embed_window = nn.Parameter(torch.zeros(1, dim, 2, 2))
        self.norm = nn.LayerNorm(dim)

    def _pos_embed(self, x):
        h, w = x.shape[1:3]
        window_embed = self.pos_embed_window
        pos_embed = F.interpolate(self.pos_embed, size=(h, w), mode="bicubic")
        tile_h = pos_embed.shape[-2] // window_embed.shape[-2]
        tile_w = pos_embed.shape[-1] // window_embed.shape[-1]
        pos_embed = pos_embed + window_embed.tile((tile_h, tile_w))
        pos_embed = pos_embed.permute(0, 2, 3, 1)
        return x + pos_embed

    def forward(self, x):
        x = self.proj(x).permute(0, 2, 3, 1)
        x = self._pos_embed(x)
        return self.norm(x)
'''


def test_bicubic_resize_of_an_nchw_parameter(tmp_path):
    result, tmod, jmod, wmod = translate_files(SRC, tmp_path)
    assert "TODO" not in result.code, result.code
    assert 'mode="bicubic"' in result.code
    x = make_input("float32[2,3,12,16]", np.random.default_rng(0))
    run_parity(result, tmod, jmod, wmod, "PosEmbed", [x])
    run_parity(result, tmod, jmod, wmod, "PosEmbed", [x], jit=True)
