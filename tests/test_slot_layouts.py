"""Module slots chosen by a flag, and the layouts of what they hold
(``slot_unions.py``, ``union_dispatch.py``). Each case: torch vs NNX, perturbed
weights, scales far from 1 (a 1e-5 layer scale hides a wrong axis), eval and
nnx.jit."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def parity(source, tmp_path, cls, inputs):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(source), tmp_path)
    run_parity(result, tmod, jmod, wmod, cls, inputs)
    run_parity(result, tmod, jmod, wmod, cls, inputs, jit=True)
    return result


IF_ELSE_SLOT = """
    class LS2d(nn.Module):
        def __init__(self, dim, init_values=0.5, inplace=False):
            super().__init__()
            self.inplace = inplace
            self.gamma = nn.Parameter(init_values * torch.ones((dim, 1, 1)))

        def forward(self, x):
            return x.mul_(self.gamma) if self.inplace else x * self.gamma


    class Block(nn.Module):
        def __init__(self, dim, ls=0.7):
            super().__init__()
            self.conv = nn.Conv2d(dim, dim, 3, padding=1)
            if ls is not None:
                self.layer_scale = LS2d(dim, ls)
            else:
                self.layer_scale = nn.Identity()

        def forward(self, x):
            return x + self.layer_scale(self.conv(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.b = Block(8)
            self.b2 = Block(8, None)

        def forward(self, x):
            return self.b2(self.b(self.stem(x)))
"""


def test_slot_set_in_if_else_is_either_layer(tmp_path):
    """FastViT: `if v is not None: self.layer_scale = LayerScale2d(...) else:
    self.layer_scale = nn.Identity()`: the slot is either, so the class is told
    its callers hand it channels-last (before, the slot was the Identity and the
    class's (C, 1, 1) scale broadcast against the width)."""
    result = parity(IF_ELSE_SLOT, tmp_path, "Net", [rand(2, 3, 8, 8)])
    assert "Takes x as (N, H, W, C)" in result.code.split("class LS2d")[1].split("class Block")[0]


CLASSES_BY_FLAG = """
    class LayerScale(nn.Module):
        def __init__(self, dim, init_values=1e-5):
            super().__init__()
            self.gamma = nn.Parameter(init_values * torch.ones(dim))

        def forward(self, x):
            return x * self.gamma


    class LayerScale2d(nn.Module):
        def __init__(self, dim, init_values=1e-5):
            super().__init__()
            self.gamma = nn.Parameter(init_values * torch.ones(dim))

        def forward(self, x):
            gamma = self.gamma.view(1, -1, 1, 1)
            return x * gamma


    class Block(nn.Module):
        def __init__(self, dim, conv_mlp=True, init_values=0.7):
            super().__init__()
            self.conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
            if conv_mlp:
                self.mlp = nn.Conv2d(dim, dim, 1)
            else:
                self.mlp = nn.Linear(dim, dim)
            self.use_conv_mlp = conv_mlp
            if conv_mlp:
                self.ls = LayerScale2d(dim, init_values) if init_values else nn.Identity()
            else:
                self.ls = LayerScale(dim, init_values) if init_values else nn.Identity()

        def forward(self, x):
            shortcut = x
            x = self.conv(x)
            if self.use_conv_mlp:
                x = self.mlp(x)
                x = self.ls(x)
            else:
                x = x.permute(0, 2, 3, 1)
                x = self.mlp(x)
                x = self.ls(x)
                x = x.permute(0, 3, 1, 2)
            return x + shortcut


    class Tokens(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.fc = nn.Linear(dim, dim)
            self.ls = LayerScale(dim, 0.5)
            self.ls2 = LayerScale2d(dim, 0.5)
            self.conv = nn.Conv2d(dim, dim, 1)

        def forward(self, x):
            # channels in torch's last dim, as partition attention holds them
            t = x.permute(0, 2, 3, 1)
            t = self.ls(self.fc(t))
            x = t.permute(0, 3, 1, 2)
            return self.ls2(self.conv(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.a = Block(8, True)
            self.b = Block(8, False)
            self.c = Block(8, False, None)
            self.t = Tokens(8)

        def forward(self, x):
            return self.t(self.c(self.b(self.a(self.stem(x)))))
"""


def test_slot_of_classes_taking_different_layouts(tmp_path):
    """MaxxViT's ConvNeXtBlock: `self.ls = LayerScale2d(...)` or `LayerScale(...)`,
    called on a channels-last map in one branch of forward and on a permuted
    (N, H, W, C) in the other: each branch tests the flag that chose the slot's
    class, so each holds its own class (flag_classes.narrow), handed the layout it
    takes with no choice at run time; LayerScale is never told an image."""
    result = parity(CLASSES_BY_FLAG, tmp_path, "Net", [rand(2, 3, 8, 8)])
    assert "isinstance(self.ls, " not in result.code
    scale = result.code[result.code.index("class LayerScale("):result.code.index("class LayerScale2d")]
    assert "Takes x as" not in scale


CLASS_OR_CONV = """
    class Split(nn.Module):
        def __init__(self, c, radix=2):
            super().__init__()
            self.radix = radix
            self.conv = nn.Conv2d(c, c * radix, 3, padding=1)

        def forward(self, x):
            x = self.conv(x)
            B, RC, H, W = x.shape
            x = x.reshape((B, self.radix, RC // self.radix, H, W))
            gap = x.sum(dim=1).mean((2, 3), keepdim=True)
            return (x * gap.unsqueeze(1).sigmoid()).sum(dim=1)


    class Bottleneck(nn.Module):
        def __init__(self, c, radix=2):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 1)
            if radix >= 1:
                self.conv2 = Split(c, radix)
            else:
                self.conv2 = nn.Conv2d(c, c, 3, padding=1)
            self.bn2 = nn.BatchNorm2d(c)
            self.conv3 = nn.Conv2d(c, c, 1)

        def forward(self, x):
            out = self.conv1(x)
            out = self.conv2(out)
            out = self.bn2(out)
            return self.conv3(out) + x


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.a = Bottleneck(8, 2)
            self.b = Bottleneck(8, 0)

        def forward(self, x):
            return self.b(self.a(self.stem(x)))
"""


def test_slot_of_a_class_or_a_conv_returning_different_layouts(tmp_path):
    """ResNeSt: `self.conv2 = SplitAttn(...)` or a conv; SplitAttn returns torch
    order, the conv channels-last: each result is brought to one layout before
    the BatchNorm reads it."""
    result = parity(CLASS_OR_CONV, tmp_path, "Net", [rand(2, 3, 8, 8)])
    assert "isinstance(self.conv2, Split)" in result.code


IDENTITY_OR_CONV_ON_A_RESHAPED_MAP = """
    class Attn(nn.Module):
        def __init__(self, dim, fuse=False):
            super().__init__()
            self.heads = 2
            self.qkv = nn.Conv2d(dim, dim * 3, 1)
            if fuse:
                self.o_proj = nn.Identity()
            else:
                self.o_proj = nn.Conv2d(dim, dim, 1)
            self.up = nn.Conv2d(dim, dim, 3, padding=1)

        def forward(self, x):
            N, C, h, w = x.shape
            qkv = self.qkv(x).reshape(N, self.heads, -1, h * w).permute(0, 1, 3, 2)
            q, k, v = qkv.chunk(3, dim=-1)
            attn = (q @ k.transpose(-2, -1)).softmax(-1)
            o = (attn @ v).permute(0, 1, 3, 2).reshape(N, C, h, w)
            o = self.o_proj(o)
            o = self.up(o)
            return o[..., :h, :w] + x


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.a = Attn(8)
            self.b = Attn(8, fuse=True)

        def forward(self, x):
            return self.b(self.a(self.stem(x)))
"""


def test_slot_of_identity_or_conv_handed_a_reshaped_map(tmp_path):
    """timm's CPUBone / LowFormer: `o_proj` is an Identity or a 1x1 conv, handed a
    map rebuilt by a reshape (torch order). The conv takes it channels-last, so
    whichever is built gets the transposed value: the Identity's result is
    channels-last too (before, the slot's result read as torch order and the next
    conv got it transposed twice)."""
    result = parity(IDENTITY_OR_CONV_ON_A_RESHAPED_MAP, tmp_path, "Net", [rand(2, 3, 6, 6)])
    assert "self.up(o)" in result.code
