"""A slice of a ModuleList is a list of the same layers (timm's
``prune_intermediate_layers``: ``self.blocks = self.blocks[:max_index + 1]``;
issue 11). Before, the slice was read as one of its layers, so the attribute,
assigned it in another method, held a single layer and the loop over the
blocks in ``forward`` called a layer it could not type: handed torch order
through the runtime dispatch while the block, translated for its other
callers, takes the pixel tokens held transposed, and the second iteration
transposed them again (TNT: ``cannot reshape array of shape (24,) into shape
[1, 1, 16]``). Torch vs NNX, perturbed weights, outputs and input gradients,
eager and nnx.jit."""

from __future__ import annotations

import numpy as np
import torch

from harness import input_grads, run_parity, translate_files

torch.set_num_threads(1)

SOURCE = '''
import torch
from torch import nn


class PixelEmbed(nn.Module):
    def __init__(self, in_dim: int = 6):
        super().__init__()
        self.in_dim = in_dim
        self.proj = nn.Conv2d(3, in_dim, 3, padding=1)

    def forward(self, x):
        B, C, H, W = x.shape
        x = self.proj(x)
        return x.reshape(B, self.in_dim, -1).transpose(1, 2)


class Block(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.norm_in = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, dim)

    def forward(self, pixel_embed, patch_embed):
        pixel_embed = pixel_embed + self.fc(self.norm_in(pixel_embed))
        patch_embed = patch_embed + pixel_embed.mean(1)
        return pixel_embed, patch_embed


class Net(nn.Module):
    def __init__(self, depth: int = 3):
        super().__init__()
        self.pixel_embed = PixelEmbed(6)
        self.blocks = nn.ModuleList([Block(6) for _ in range(depth)])
        self.head = nn.Linear(6, 5)

    def prune(self, n: int):
        self.blocks = self.blocks[:n]

    def forward(self, x):
        pixel_embed = self.pixel_embed(x)
        patch_embed = pixel_embed.mean(1) * 0.5
        for blk in self.blocks:
            pixel_embed, patch_embed = blk(pixel_embed, patch_embed)
        return self.head(patch_embed)
'''


def test_loop_over_a_list_sliced_in_another_method(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert "torch_order_layer(blk" not in result.code, result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [x], jit=jit)
        t_grad, j_grad = input_grads(result, tmod, jmod, wmod, "Net", x, jit=jit)
        np.testing.assert_allclose(j_grad, t_grad, rtol=1e-4, atol=1e-4)
