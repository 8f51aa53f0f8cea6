"""A slot whose class the flag chooses that also chooses its input's layout
(flag_classes.py): timm's MaxxVit block picks ``PartitionAttention2d`` (NCHW)
or ``PartitionAttentionCl`` (NHWC) on ``self.nchw_attn``, holds one in a
None-or-class slot and one in a plain slot, and permutes to NHWC only
``if not self.nchw_attn``. Each class must learn only its own side: the
translation then moves no data at all. Torch vs NNX, perturbed weights, eval
and nnx.jit, both values of the flag."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

BLOCKS = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class AttnNchw(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.BatchNorm2d(dim)
        self.fc1 = nn.Conv2d(dim, dim * 2, 1)
        self.fc2 = nn.Conv2d(dim * 2, dim, 1)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class AttnCl(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim * 2)
        self.fc2 = nn.Linear(dim * 2, dim)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class Block(nn.Module):
    def __init__(self, dim, nchw_attn, no_block):
        super().__init__()
        self.nchw_attn = nchw_attn
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        layer = AttnNchw if CHOICE else AttnCl
        self.attn_block = None if no_block else layer(dim)
        self.attn_grid = layer(dim)

    def forward(self, x):
        x = self.conv(x)
        if not self.nchw_attn:
            x = x.permute(0, 2, 3, 1)
        if self.attn_block is not None:
            x = self.attn_block(x)
        x = self.attn_grid(x)
        if not self.nchw_attn:
            x = x.permute(0, 3, 1, 2)
        return x


class Net(nn.Module):
    def __init__(self, flags=((True, False), (False, False), (False, True))):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(*[Block(8, nchw, no_block) for nchw, no_block in flags])
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))
"""


# the flag read off self, or the constructor's parameter self.nchw_attn was set from
@pytest.mark.parametrize("choice", ["self.nchw_attn", "nchw_attn"])
def test_each_class_takes_the_side_its_flag_value_leaves(tmp_path, choice):
    result, tmod, jmod, wmod = translate_files(textwrap.dedent(BLOCKS.replace("CHOICE", choice)), tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for flags in (((True, False), (False, False), (False, True)), ((False, False),), ((True, True),)):
        run_parity(result, tmod, jmod, wmod, "Net", [x], kwargs={"flags": flags})
        run_parity(result, tmod, jmod, wmod, "Net", [x], kwargs={"flags": flags}, jit=True)
    block = result.code[result.code.index("class Block"):result.code.index("class Net")]
    # the NHWC tensor is the same array on both sides of the flag: nothing moves
    assert "jnp.transpose" not in block and "isinstance" not in block
    assert "torch_broadcast_cl" not in result.code
    assert any("each class takes its own" in d.message for d in result.diagnostics)


LAYER_SCALES = """
import torch
import torch.nn as nn


class LayerScale(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class LayerScale2d(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * self.gamma.view(1, -1, 1, 1)


class ConvBlock(nn.Module):
    def __init__(self, dim, conv_mlp):
        super().__init__()
        self.use_conv_mlp = conv_mlp
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        if conv_mlp:
            self.norm = nn.BatchNorm2d(dim)
            self.ls = LayerScale2d(dim)
        else:
            self.norm = nn.LayerNorm(dim)
            self.ls = LayerScale(dim)

    def forward(self, x):
        x = self.conv(x)
        if self.use_conv_mlp:
            x = self.norm(x)
            x = self.ls(x)
        else:
            x = x.permute(0, 2, 3, 1)
            x = self.norm(x)
            x = self.ls(x)
            x = x.permute(0, 3, 1, 2)
        return x


class TokenBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.ls = LayerScale(dim)

    def forward(self, x):
        return x + self.ls(self.fc(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.a = ConvBlock(8, True)
        self.b = ConvBlock(8, False)
        self.tokens = TokenBlock(8)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.b(self.a(self.stem(x)))
        x = self.tokens(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.head(x)
"""


def test_a_slot_under_an_if_on_its_flag_holds_that_paths_class(tmp_path):
    result, tmod, jmod, wmod = translate_files(textwrap.dedent(LAYER_SCALES), tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Net", [x])
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=True)
    # LayerScale only ever holds NHWC tokens: it is never told an image
    scale = result.code[result.code.index("class LayerScale("):result.code.index("class LayerScale2d")]
    assert "Takes x as" not in scale and "transpose" not in scale
