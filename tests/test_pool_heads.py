"""Classifier heads of the timm corpus: a global pool whose flatten is chosen at
run time (``nn.Flatten(1) if flatten else nn.Identity()``, timm's
``SelectAdaptivePool2d``), its output handed to a 1x1 conv classifier through a
factory's tuple (``create_classifier(use_conv=True)``, dla/hgnet), to a norm
taking image batches (``NormMlpClassifierHead``, convnext) or to a Linear.

The Identity's pooled map stays channels-last, the Flatten sees torch's order
(reshape_choice.py); a union of a global pool and an Identity does not know its
spatial dims are 1. Each case: torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = """
import torch
import torch.nn as nn


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = super().forward(x)
        return x.permute(0, 3, 1, 2)


class AvgMax(nn.Module):
    def forward(self, x):
        return 0.5 * (x.mean((2, 3), keepdim=True) + x.amax((2, 3), keepdim=True))


class Pool(nn.Module):
    def __init__(self, pool_type="avg", flatten=False):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1) if pool_type == "avg" else (AvgMax() if pool_type else nn.Identity())
        self.flatten = nn.Flatten(1) if flatten else nn.Identity()

    def forward(self, x):
        x = self.pool(x)
        x = self.flatten(x)
        return x


def create_head(c, n, pool_type, use_conv):
    pool = Pool(pool_type, flatten=not use_conv)
    fc = nn.Conv2d(c, n, 1) if use_conv else nn.Linear(c, n)
    return pool, fc


class ConvHead(nn.Module):
    def __init__(self, pool_type="avg", use_conv=True):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.global_pool, self.fc = create_head(8, 5, pool_type, use_conv)
        self.flatten = nn.Flatten(1) if use_conv else nn.Identity()

    def forward(self, x):
        x = self.conv(x)
        x = self.global_pool(x)
        x = self.fc(x)
        return self.flatten(x)


class NormHead(nn.Module):
    def __init__(self, pool_type="avg"):
        super().__init__()
        self.global_pool = Pool(pool_type)
        self.norm = LayerNorm2d(8)
        self.flatten = nn.Flatten(1) if pool_type else nn.Identity()
        self.fc = nn.Linear(8, 5)

    def reset(self, pool_type=None, reset_other=False):
        # rebuilt by a method (timm's NormMlpClassifierHead.reset): the attributes
        # may hold these too, not only these
        if pool_type is not None:
            global_pool = Pool(pool_type)
            self.global_pool = global_pool.train(self.training)
            self.flatten = nn.Flatten(1) if pool_type else nn.Identity()
        if reset_other:
            self.norm = nn.Identity()

    def forward(self, x):
        x = self.global_pool(x)
        x = self.norm(x)
        x = self.flatten(x)
        return self.fc(x)


class NormNet(nn.Module):
    def __init__(self, pool_type="avg"):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.head = NormHead(pool_type)

    def forward(self, x):
        return self.head(self.conv(x))


class FlatHead(nn.Module):
    def __init__(self, pool_type=""):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.global_pool = Pool(pool_type, flatten=True)
        self.fc = nn.Linear(8 * 4 * 4 if not pool_type else 8, 5)

    def forward(self, x):
        x = self.conv(x)
        x = self.global_pool(x)
        return self.fc(x)


class LinearHead(nn.Module):
    # hgnet's ClassifierHead: a 1x1 conv after the pool, then a Flatten or an
    # Identity chosen at run time and a Linear: its result is (N, classes) or a
    # map, transposed back only at its rank
    def __init__(self, pool_type="avg"):
        super().__init__()
        self.global_pool = Pool(pool_type)
        self.last_conv = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU())
        self.flatten = nn.Flatten(1) if pool_type else nn.Identity()
        self.fc = nn.Linear(4, 5)

    def forward(self, x, pre_logits: bool = False):
        x = self.flatten(self.last_conv(self.global_pool(x)))
        if pre_logits:
            return x
        return self.fc(x)


class LinearNet(nn.Module):
    def __init__(self, pool_type="avg"):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.head = LinearHead(pool_type)

    def forward_head(self, x, pre_logits: bool = False):
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x):
        return self.forward_head(self.conv(x))


class Features(nn.Module):
    def __init__(self, pool_type=""):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.global_pool = Pool(pool_type)
        self.proj = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.proj(self.global_pool(self.conv(x)))
"""


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translate_files(textwrap.dedent(SOURCE), tmp_path_factory.mktemp("pool_heads"))


CASES = [
    ("ConvHead", {"use_conv": True}),  # Identity: the pooled map to a 1x1 conv (dla, hgnet)
    ("ConvHead", {"use_conv": True, "pool_type": "avgmax"}),
    ("ConvHead", {"use_conv": False}),  # Flatten, then a Linear
    ("NormNet", {}),  # Identity: the pooled map to a norm, then Flatten (convnext)
    ("NormNet", {"pool_type": "avgmax"}),
    ("FlatHead", {}),  # no pooling: Flatten of the whole map (torch's order)
    ("FlatHead", {"pool_type": "avg"}),
    ("LinearNet", {}),  # Flatten, then a Linear (hgnet)
    ("LinearNet", {"pool_type": ""}),  # Identity: a Linear on torch's map
    ("Features", {}),  # no pooling, no flatten: the map stays channels-last
    ("Features", {"pool_type": "avg"}),
]


@pytest.mark.parametrize("cls,kwargs", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_pool_head_parity(translated, cls, kwargs):
    result, tmod, jmod, wmod = translated
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, cls, [x], kwargs=kwargs)
    run_parity(result, tmod, jmod, wmod, cls, [x], kwargs=kwargs, jit=True)



ONE = """
import torch.nn as nn


class Head(nn.Module):
    def __init__(self, flatten=True):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1) if flatten else nn.Identity()
        self.proj = nn.Conv2d(8, 4, 1) if not flatten else nn.Identity()

    def forward(self, x):
        return self.flatten(self.pool(self.conv(x)))
"""


@pytest.mark.parametrize("flatten", [True, False])
def test_flatten_or_identity_after_global_pool(tmp_path, flatten):
    """Spatial dims known to be 1 (a global pool, nothing beside it): the
    channels-last (N, 1, 1, C) reshapes as torch's (N, C, 1, 1) does, so neither
    layer needs a transpose and no runtime choice is emitted."""
    result, tmod, jmod, wmod = translate_files(textwrap.dedent(ONE), tmp_path)
    assert "reshape_or_pass" not in result.code and "jnp.transpose" not in result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Head", [x], kwargs={"flatten": flatten})

