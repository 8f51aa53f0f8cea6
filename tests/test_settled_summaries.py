"""Layout summaries that settle: analysis rounds reach a fixed point instead of
oscillating between two readings of a value (rounds.py's widening).

timm's MetaFormer idiom: a stage that hands its blocks either an image batch or,
behind a flag, tokens (so its blocks' parameter is taken at two ranks), a head
whose flatten is a Flatten-or-Identity slot, and a model whose ``forward`` reads
``forward_features``' return. The summaries used to flip each round (a block's
parameter between torch order and channels-last), and the round limit left the
caller reading one round's return layout while the callee's code produced the
other's: the head got a transposed map, a channel norm ran on the wrong axis."""

from __future__ import annotations

import numpy as np
import pytest

from test_layout_forward import parity

HEADER = "import torch\nimport torch.nn as nn\nfrom collections import OrderedDict\n"

METAFORMER = '''

class Norm(nn.GroupNorm):
    def __init__(self, num_channels, **kwargs):
        super().__init__(1, num_channels, **kwargs)


class Scale(nn.Module):
    def __init__(self, dim, init_value=1e-5, use_nchw=True):
        super().__init__()
        self.shape = (dim, 1, 1) if use_nchw else (dim,)
        self.scale = nn.Parameter(init_value * torch.ones(dim))

    def forward(self, x):
        return x * self.scale.view(self.shape)


class Pooling(nn.Module):
    def __init__(self, pool_size=3):
        super().__init__()
        self.pool = nn.AvgPool2d(pool_size, stride=1, padding=pool_size // 2, count_include_pad=False)

    def forward(self, x):
        return self.pool(x) - x


class Block(nn.Module):
    def __init__(self, dim, use_nchw=True):
        super().__init__()
        self.norm1 = Norm(dim)
        self.mixer = Pooling()
        self.scale1 = Scale(dim, use_nchw=use_nchw)
        self.norm2 = Norm(dim)
        self.mlp = nn.Conv2d(dim, dim, 1)

    def forward(self, x):
        x = x + self.scale1(self.mixer(self.norm1(x)))
        x = x + self.mlp(self.norm2(x))
        return x


class Stage(nn.Module):
    def __init__(self, cin, cout, depth=2, use_nchw=True):
        super().__init__()
        self.use_nchw = use_nchw
        self.downsample = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 3, 2, 1)
        self.blocks = nn.Sequential(*[Block(cout, use_nchw=use_nchw) for _ in range(depth)])

    def forward(self, x):
        x = self.downsample(x)
        B, C, H, W = x.shape
        if not self.use_nchw:
            x = x.reshape(B, C, -1).transpose(1, 2)
        x = self.blocks(x)
        if not self.use_nchw:
            x = x.transpose(1, 2).reshape(B, C, H, W)
        return x


class Net(nn.Module):
    def __init__(self, dims=(8, 16), num_classes=5, global_pool=True):
        super().__init__()
        self.stem = nn.Conv2d(3, dims[0], 3, 2, 1)
        stages = []
        prev = dims[0]
        for d in dims:
            stages += [Stage(prev, d)]
            prev = d
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(OrderedDict([
            ('global_pool', nn.AdaptiveAvgPool2d(1)),
            ('norm', Norm(prev)),
            ('flatten', nn.Flatten(1) if global_pool else nn.Identity()),
            ('fc', nn.Linear(prev, num_classes)),
        ]))

    def forward_head(self, x, pre_logits: bool = False):
        x = self.head.global_pool(x)
        x = self.head.norm(x)
        x = self.head.flatten(x)
        return x if pre_logits else self.head.fc(x)

    def forward_features(self, x):
        x = self.stem(x)
        x = self.stages(x)
        return x

    def forward(self, x):
        x = self.forward_features(x)
        x = self.forward_head(x)
        return x
'''


def test_summaries_settle_on_a_stage_taking_images_or_tokens(tmp_path):
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    result = parity(METAFORMER, tmp_path, "Net", [x], header=HEADER)
    assert not any(d.code == "T2N901" for d in result.diagnostics)
    assert result.settled, f"layout summaries still changing after {result.rounds} rounds"



# timm's MetaFormerBlock: the residual itself goes through a Scale whose parameter
# is viewed (dim, 1, 1) at run time, so the Scale takes torch order, and the Scale is
# also handed the block's parameter, which one caller hands as tokens (rank 3).
# The second Norm, a GroupNorm subclass with only an __init__, is handed the
# torch-order sum: it is the layer for its callers, which transpose (row_forward.py).
RES_SCALED = METAFORMER.replace(
    "        self.mlp = nn.Conv2d(dim, dim, 1)\n",
    "        self.mlp = nn.Conv2d(dim, dim, 1)\n"
    "        self.res_scale1 = Scale(dim, init_value=1.0, use_nchw=use_nchw)\n"
    "        self.res_scale2 = Scale(dim, init_value=1.0, use_nchw=use_nchw)\n",
).replace("        x = x + self.scale1(", "        x = self.res_scale1(x) + self.scale1(").replace(
    "        x = x + self.mlp(", "        x = self.res_scale2(x) + self.mlp(")


def test_residual_scaled_in_torch_order(tmp_path):
    assert RES_SCALED != METAFORMER
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    parity(RES_SCALED, tmp_path, "Net", [x], header=HEADER)


def test_widening_stops_a_cycle():
    from torch2nnx.translator import layout as L
    from torch2nnx.translator.settle import Settle

    cl, plain = L.channels_last(4), L.plain()
    s = Settle()
    hints: dict = {}
    seq = [cl, plain, cl, plain, cl, plain]
    got = []
    for v in seq:
        callsites = {("Block", "__call__", "x"): v}
        s.widen(callsites, hints)
        got.append(callsites[("Block", "__call__", "x")])
        hints = callsites
    # the first two rounds are taken as they come; from the revisit on, one value
    assert got[:2] == [cl, plain]
    assert len(set(got[2:])) == 1 and got[2].perm == cl.perm


def test_progress_is_not_widened():
    from torch2nnx.translator import layout as L
    from torch2nnx.translator.settle import Settle

    s = Settle()
    hints: dict = {}
    for v in [L.plain(), L.plain(4), L.channels_last(4), L.channels_last(4)]:
        callsites = {("f", None, "x"): v}
        assert not s.widen(callsites, hints)
        assert callsites[("f", None, "x")] == v
        hints = callsites
