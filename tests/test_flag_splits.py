"""A flag tested twice with the tensor between in the layout each value of the
flag gives (flag_splits.py): timm's MetaFormer stage views its image as tokens
only when ``not self.use_nchw``, runs blocks built for either, and views the
tokens back under the same test. Torch vs NNX, perturbed weights, eval and
nnx.jit."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

STAGES = """
from functools import partial
import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Block(nn.Module):
    def __init__(self, dim, norm_layer, use_conv):
        super().__init__()
        self.norm = norm_layer(dim)
        layer = partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear
        self.fc = layer(dim, dim)

    def forward(self, x):
        return x + self.fc(self.norm(x))


class Stage(nn.Module):
    def __init__(self, dim, use_nchw, norm_layer):
        super().__init__()
        self.use_nchw = use_nchw
        self.down = nn.Conv2d(dim, dim, 3, padding=1)
        self.blocks = nn.Sequential(*[Block(dim, norm_layer, use_nchw) for _ in range(2)])

    def forward(self, x):
        x = self.down(x)
        B, C, H, W = x.shape
        if not self.use_nchw:
            x = x.reshape(B, C, -1).transpose(1, 2)
        x = self.blocks(x)
        if not self.use_nchw:
            x = x.transpose(1, 2).reshape(B, C, H, W)
        return x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.stages = nn.Sequential(Stage(8, True, LayerNorm2d), Stage(8, False, nn.LayerNorm))
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))
"""


def test_tokens_between_two_ifs_on_one_flag(tmp_path):
    result, tmod, jmod, wmod = translate_files(textwrap.dedent(STAGES), tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Net", [x])
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=True)
    stage = result.code[result.code.index("class Stage"):result.code.index("class Net")]
    # the blocks get the tokens of the token stage, not an image transposed to torch order
    assert "self.blocks(jnp.transpose(x, (0, 2, 3, 1)))" not in stage
    assert any("each value of the flag" in d.message for d in result.diagnostics)


def test_a_read_of_a_split_value_is_brought_to_one_layout(tmp_path):
    # x * (...) between the two ifs is no callee taking x as it is: one layout on both sides
    # (the stages called one by one: a stage returning torch order would need a layout change
    # inside an nn.Sequential of stages, T2N004)
    src = STAGES.replace("        x = self.blocks(x)\n",
                         "        x = self.blocks(x)\n        x = x * (x.shape[-1] / x.shape[-1])\n")
    src = src.replace("self.stages = nn.Sequential(Stage(8, True, LayerNorm2d), Stage(8, False, nn.LayerNorm))",
                      "self.s1 = Stage(8, True, LayerNorm2d)\n        self.s2 = Stage(8, False, nn.LayerNorm)")
    src = src.replace("self.head(self.stages(self.stem(x)))", "self.head(self.s2(self.s1(self.stem(x))))")
    result, tmod, jmod, wmod = translate_files(textwrap.dedent(src), tmp_path)
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Net", [x])
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=True)


# LeViT's ``forward_features``: the map flattened to tokens under ``not self.use_conv``,
# blocks built for either, the value returned as the flag left it; a helper of the class
# is handed that return and, from another call, the stem's map. The return is torch order
# of no one rank (layout.Tag.ranks_vary): the helper takes torch order from every caller
# (the map's caller transposes), never channels-last (its caller would transpose the
# tokens as a map: "axis 3 is out of bounds for array of dimension 3").
RANK_BY_FLAG = """
import torch
import torch.nn as nn


class ChannelMix(nn.Module):
    def __init__(self, dim, use_conv):
        super().__init__()
        self.fc = nn.Conv2d(dim, dim, 1) if use_conv else nn.Linear(dim, dim)
        self.act = nn.GELU()

    def forward(self, x):
        return x + self.act(self.fc(x))


class Net(nn.Module):
    def __init__(self, dim=8, num_classes=5, use_conv=False):
        super().__init__()
        self.use_conv = use_conv
        self.stem = nn.Conv2d(3, dim, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(*[ChannelMix(dim, use_conv) for _ in range(2)])
        self.head = nn.Linear(dim, num_classes)

    def forward_features(self, x):
        x = self.stem(x)
        if not self.use_conv:
            x = x.flatten(2).transpose(1, 2)
        x = self.blocks(x)
        return x

    def pool(self, x):
        return x.mean(dim=(-2, -1)) if x.ndim == 4 else x.mean(dim=1)

    def forward(self, x):
        feats = self.forward_features(x)
        return self.head(self.pool(feats)) + self.head(self.pool(self.stem(x)))
"""


def test_a_method_returning_a_rank_the_flag_chose(tmp_path):
    result, tmod, jmod, wmod = translate_files(textwrap.dedent(RANK_BY_FLAG), tmp_path)
    assert result.todo_count == 0, result.code
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for use_conv in (False, True):
        for jit in (False, True):
            run_parity(result, tmod, jmod, wmod, "Net", [x], kwargs={"use_conv": use_conv}, jit=jit)
    assert "jnp.mean(x, axis=1)" in result.code, result.code  # the helper reads tokens as torch does
