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


PAD_SAME = HEADER + textwrap.dedent("""
    import math


    def get_same_padding(x: int, k: int, s: int, d: int):
        return max((math.ceil(x / s) - 1) * s + (k - 1) * d + 1 - x, 0)


    def pad_same(x, kernel_size, stride, dilation=(1, 1), value: float = 0):
        ih, iw = x.size()[-2:]
        pad_h = get_same_padding(ih, kernel_size[0], stride[0], dilation[0])
        pad_w = get_same_padding(iw, kernel_size[1], stride[1], dilation[1])
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=value)
        return x


    class ConvSame(nn.Conv2d):
        def __init__(self, cin, cout, k, stride=1, same=True):
            super().__init__(cin, cout, k, stride=stride, padding=0)
            self.same_pad = same
            self.gain = nn.Parameter(torch.ones(cout, 1, 1, 1))

        def forward(self, x):
            if self.same_pad:
                x = pad_same(x, self.kernel_size, self.stride, self.dilation)
            weight = self.weight * self.gain
            return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


    def make(kind):
        return {"same": ConvSame}[kind]


    class Net(nn.Module):
        def __init__(self, kind="same"):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            conv = make(kind)
            self.conv = conv(8, 6, 3, stride=2)
            self.head = nn.Linear(6, 4)

        def forward(self, x):
            x = self.conv(torch.relu(self.stem(x)))
            return self.head(x.mean((2, 3)))
""")


def test_pad_after_a_shape_read_keeps_the_origin(tmp_path):
    """A padding helper reading ``x.size()[-2:]`` before ``F.pad`` (timm's
    ``pad_same``) used by a conv subclass reached as a value (timm's
    ``ScaledStdConv2dSame``): the pad's result keeps the parameter as its
    origin, so the conv makes the helper and the class take channels-last
    maps, as their callers hand them (before: torch order, a transpose of a
    channels-last map inside the class)."""
    result, tmod, jmod, wmod = translate_files(PAD_SAME, tmp_path)
    assert result.todo_count == 0, result.code
    assert "Takes x as (N, H, W, C)" in result.code.split("class ConvSame")[1].split("def __init__")[0], result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 9, 7)])
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 9, 7)], jit=True)


NAMED_CHAIN = HEADER + textwrap.dedent("""
    class Conv2dNorm(nn.Sequential):
        def __init__(self, cin, cout, k=1, stride=1, padding=0, bn_weight_init=1):
            super().__init__()
            self.add_module('c', nn.Conv2d(cin, cout, k, stride, padding, bias=False))
            self.add_module('bn', nn.BatchNorm2d(cout))
            nn.init.constant_(self.bn.weight, bn_weight_init)


    class Attn(nn.Module):
        def __init__(self, dim, pdim):
            super().__init__()
            self.dim, self.pdim = dim, pdim
            self.qkv = Conv2dNorm(pdim, pdim)
            self.proj = nn.Sequential(nn.ReLU(), Conv2dNorm(dim, dim))

        def forward(self, x):
            B, _, H, W = x.shape
            x1, x2 = torch.split(x, [self.pdim, self.dim - self.pdim], dim=1)
            v = self.qkv(x1).flatten(2)
            x1 = (v * 2.0).reshape(B, self.pdim, H, W)
            return self.proj(torch.cat([x1, x2], dim=1))


    class Net(nn.Module):
        def __init__(self, dim=8, pdim=4):
            super().__init__()
            self.stem = Conv2dNorm(3, dim, 3, 1, 1)
            self.attn = Attn(dim, pdim)

        def forward(self, x):
            return self.attn(self.stem(x))
""")


def test_sequential_subclass_filled_with_add_module(tmp_path):
    """A Sequential subclass without a forward that adds its layers with
    ``self.add_module`` (timm's SHViT ``Conv2dNorm``): its layers in order tell
    what it takes and returns, so a map read in torch order (a reshape, a
    concatenation) is brought channels-last before it (before: the whole model
    ran the convolutions on torch-order maps)."""
    result, tmod, jmod, wmod = translate_files(NAMED_CHAIN, tmp_path)
    assert result.todo_count == 0, result.code
    assert "Takes input as (N, H, W, C)" in result.code, result.code
    for train in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 6, 5)], train=train)
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 6, 5)], jit=True)
