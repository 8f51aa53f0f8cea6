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
