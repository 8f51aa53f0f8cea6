"""One module class applied to a (B, C, H, W) map in one place and to (B, N, C)
tokens in another (timm's MetaFormer stages pick ``use_nchw`` per stage, LeViT's
``use_conv``; issue 12). The class's summary takes the map channels-last; the
flag that turned the map into tokens leaves the value split by rank
(flag_splits.by_rank): the map goes in channels-last, the tokens as they are,
and the class's one translation holds for both (its channel ops read the last
axis; small operands broadcast without leading 1s). Torch vs NNX, perturbed
weights, eval and nnx.jit."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from functools import partial


class Scale(nn.Module):
    def __init__(self, dim, use_nchw=True):
        super().__init__()
        self.shape = (dim, 1, 1) if use_nchw else (dim,)
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * self.scale.view(self.shape)


class StarReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.scale * F.relu(x) ** 2 + self.bias


class ConvMixer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x):
        return self.conv(x)


class TokenMixer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape  # tokens only (timm's metaformer Attention)
        return self.fc(x).reshape(B, N, C)


class Block(nn.Module):
    def __init__(self, dim, mixer=ConvMixer, use_nchw=True):
        super().__init__()
        self.mixer = mixer(dim)
        linear = partial(nn.Conv2d, kernel_size=1) if use_nchw else nn.Linear
        self.fc1 = linear(dim, dim * 2)
        self.act = StarReLU()
        self.fc2 = linear(dim * 2, dim)
        self.scale = Scale(dim, use_nchw)

    def forward(self, x):
        x = x + self.mixer(x)
        return x + self.scale(self.fc2(self.act(self.fc1(x))))


class Stage(nn.Module):
    # the flag tested twice around the blocks (timm's MetaFormer stage)
    def __init__(self, dim, mixer=ConvMixer):
        super().__init__()
        self.use_nchw = not issubclass(mixer, TokenMixer)
        self.blocks = nn.Sequential(Block(dim, mixer, self.use_nchw), Block(dim, mixer, self.use_nchw))

    def forward(self, x):
        B, C, H, W = x.shape
        if not self.use_nchw:
            x = x.reshape(B, C, -1).transpose(1, 2)
        x = self.blocks(x)
        if not self.use_nchw:
            x = x.transpose(1, 2).reshape(B, C, H, W)
        return x


class Net(nn.Module):
    # the flag tested once (LeViT's use_conv): the stem's map or its tokens
    def __init__(self, use_conv=True):
        super().__init__()
        self.use_conv = use_conv
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.stages = nn.Sequential(Stage(8, ConvMixer), Stage(8, TokenMixer))
        mixer = ConvMixer if use_conv else TokenMixer
        self.blocks = nn.Sequential(Block(8, mixer, use_conv), Block(8, mixer, use_conv))

    def forward(self, x):
        x = self.stages(self.stem(x))
        if not self.use_conv:
            x = x.flatten(2).transpose(1, 2)
        x = self.blocks(x)
        return x.mean(1)
"""


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translate_files(textwrap.dedent(SOURCE), tmp_path_factory.mktemp("two_ranks"))


@pytest.mark.parametrize("use_conv", [True, False])
@pytest.mark.parametrize("jit", [False, True])
def test_one_class_at_two_ranks(translated, use_conv, jit):
    result, tmod, jmod, wmod = translated
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 4)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Net", [x], kwargs={"use_conv": use_conv}, jit=jit)


def test_the_map_is_not_moved_to_torch_order(translated):
    result = translated[0]
    stage = result.code[result.code.index("class Stage"):result.code.index("class Net")]
    # the map goes in channels-last as it is, the tokens as torch has them
    assert "self.blocks(x if self.use_nchw else jnp.transpose(x, (0, 2, 1)))" in stage
    assert any("the tokens as they are" in d.message for d in result.diagnostics)
