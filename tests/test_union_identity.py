"""A slot holding a translated class or a layer that returns what it is handed
(``SwapAxes(-2, -3) if grid else nn.Identity()``, torchvision MaxViT's
partition swap; issue 12). The class takes a channels-last value (another call
hands it one) and returns torch order; folded, the Identity was handed the
transposed tokens and its result read as torch order, so the window layers
swapped windows and tokens (``Incompatible shapes for broadcasting``). Now the
candidates disagree (union_dispatch._disagree) and each is handed what it
takes. Torch vs NNX, perturbed weights, outputs and input gradients, eager and
nnx.jit."""

from __future__ import annotations

import numpy as np
import torch

from harness import input_grads, run_parity, translate_files

torch.set_num_threads(1)

SOURCE = '''
import torch
from torch import nn


class Scale(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((1,), 0.5))

    def forward(self, x):
        return x * self.gamma


class SwapAxes(nn.Module):
    def __init__(self, a: int, b: int) -> None:
        super().__init__()
        self.a = a
        self.b = b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.swapaxes(x, self.a, self.b)


class Partition(nn.Module):
    def forward(self, x, p: int):
        B, C, H, W = x.shape
        x = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(B, (H // p) * (W // p), p * p, C)


class Departition(nn.Module):
    def forward(self, x, p: int, hp: int, wp: int):
        B, G, PP, C = x.shape
        x = x.reshape(B, hp, wp, p, p, C).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(B, C, hp * p, wp * p)


class ConvBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.scale = Scale(c)

    def forward(self, x):
        return x + self.scale(self.conv(x))


class PartitionLayer(nn.Module):
    def __init__(self, c: int, size: int, grid: bool):
        super().__init__()
        self.size = size
        self.p = size // 2 if grid else 2  # windows of 2x2, or a 2x2 grid
        self.partition = Partition()
        self.departition = Departition()
        self.swap = SwapAxes(-2, -3) if grid else nn.Identity()
        self.unswap = SwapAxes(-2, -3) if grid else nn.Identity()
        self.mix = nn.Linear(4, 4)  # across the 4 tokens of a window (or of a grid cell)
        self.mlp = nn.Linear(c, c)
        self.scale = Scale(c)

    def forward(self, x):
        g = self.size // self.p
        x = self.partition(x, self.p)
        x = self.swap(x)
        x = x + self.mix(x.transpose(-1, -2)).transpose(-1, -2)
        x = x + self.scale(self.mlp(x))
        x = self.unswap(x)
        return self.departition(x, self.p, g, g)


class Net(nn.Module):
    def __init__(self, c: int = 6, size: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 1)
        self.block = ConvBlock(c)
        self.window = PartitionLayer(c, size, grid=False)
        self.grid = PartitionLayer(c, size, grid=True)

    def forward(self, x):
        return self.grid(self.window(self.block(self.stem(x))))
'''


def test_class_or_identity_slot_hands_each_its_layout(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert "isinstance(self.swap, SwapAxes)" in result.code, result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [x], jit=jit)
        t_grad, j_grad = input_grads(result, tmod, jmod, wmod, "Net", x, jit=jit)
        np.testing.assert_allclose(j_grad, t_grad, rtol=1e-4, atol=1e-4)
