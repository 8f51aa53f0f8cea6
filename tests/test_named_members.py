"""Layers of a Sequential built with names, read as attributes (timm's
MetaFormer heads: ``self.head = nn.Sequential(OrderedDict([('global_pool', ...),
('norm', LayerNorm2d), ...]))`` then ``self.head.global_pool(x)``,
``self.head.norm(x)`` one by one). Each member is the layer built under its name
(named_members.py): before, the attribute was a module of unknown class, handed
a torch-order map, and the channels-last norm after it reshaped the wrong axis.
A member rebound in a method (``self.head.norm = nn.Identity()``) may hold
either layer. Each case: torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import textwrap
from collections import OrderedDict  # noqa: F401  (the source's)

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = """
from collections import OrderedDict
from functools import partial

import torch
import torch.nn as nn


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = super().forward(x)
        return x.permute(0, 3, 1, 2)


class Pool(nn.Module):
    def __init__(self, pool_type="avg"):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1) if pool_type else nn.Identity()

    def forward(self, x):
        return self.pool(x)


class Net(nn.Module):
    def __init__(self, global_pool="avg", output_norm=partial(LayerNorm2d, eps=1e-6), reset_other=False):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.head = nn.Sequential(OrderedDict([
            ('global_pool', Pool(pool_type=global_pool)),
            ('norm', output_norm(8)),
            ('flatten', nn.Flatten(1)),
            ('drop', nn.Dropout(0.0)),
            ('fc', nn.Linear(8 if global_pool else 8 * 16, 5)),
        ]))
        if reset_other:
            self.reset_classifier(reset_other)

    def reset_classifier(self, reset_other=False):
        if reset_other:
            self.head.norm = nn.Identity()

    def forward_head(self, x):
        x = self.head.global_pool(x)
        x = self.head.norm(x)
        x = self.head.flatten(x)
        x = self.head.drop(x)
        return self.head.fc(x)

    def forward(self, x):
        return self.forward_head(self.conv(x))


class Filled(nn.Module):
    def __init__(self):
        super().__init__()
        layers = OrderedDict()
        layers["conv"] = nn.Conv2d(3, 8, 3)
        layers["norm"] = LayerNorm2d(8)
        layers["act"] = nn.ReLU()
        self.body = nn.Sequential(layers)

    def forward(self, x):
        y = self.body.conv(x)
        y = self.body.norm(y)
        return self.body.act(y).mean((2, 3))
"""


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translate_files(textwrap.dedent(SOURCE), tmp_path_factory.mktemp("named_members"))


CASES = [
    ("Net", {}),  # pooled map -> channels-last norm -> flatten -> Linear
    ("Net", {"global_pool": ""}),  # the whole map through the norm, flattened in torch's order
    ("Net", {"reset_other": True}),  # the norm rebound to an Identity by a method
    ("Filled", {}),  # an OrderedDict filled item by item
]


@pytest.mark.parametrize("cls,kwargs", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_named_member_parity(translated, cls, kwargs):
    result, tmod, jmod, wmod = translated
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, cls, [x], kwargs=kwargs)
    run_parity(result, tmod, jmod, wmod, cls, [x], kwargs=kwargs, jit=True)


def test_members_take_channels_last(translated):
    """The pooled map reaches the pool and the norm as it is: no transpose to
    torch's order in front of the pool."""
    result = translated[0]
    head = result.code[result.code.index("def forward_head"):]
    assert "self.head.global_pool(x)" in head
