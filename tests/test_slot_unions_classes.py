"""A module slot an ``if`` fills with translated classes or one of several
torch layers (timm's SelectAdaptivePool2d, TResNet's 'fast' head): each class
learns the layout its callers hand it. Written from scratch here: pooling
classes whose reduced dims ``__init__`` computes from a format string
(``self.dim = get_dims(input_fmt)``), beside adaptive pools, an Identity and a
Flatten, at parity with torch (perturbed weights, eval, eagerly and under
``nnx.jit``), the pooled map flattened into a Linear or kept for a 1x1 conv
(GhostNet's head: the slot's result handed straight to a slot the translator
reads as an Identity, then to the conv, so it must come back channels-last).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = textwrap.dedent("""
    import torch
    import torch.nn as nn


    def get_dims(fmt: str):
        if fmt == "NHWC":
            dim = (1, 2)
        else:
            dim = (2, 3)
        return dim


    class MeanPool(nn.Module):
        def __init__(self, flatten: bool = False, input_fmt: str = "NCHW"):
            super().__init__()
            self.flatten = flatten
            self.dim = get_dims(input_fmt)

        def forward(self, x):
            return x.mean(self.dim, keepdim=not self.flatten)


    class MaxPool(nn.Module):
        def __init__(self, flatten: bool = False, input_fmt: str = "NCHW"):
            super().__init__()
            self.flatten = flatten
            self.dim = get_dims(input_fmt)

        def forward(self, x):
            return x.amax(self.dim, keepdim=not self.flatten)


    class Select(nn.Module):
        def __init__(self, pool_type="fast", flatten=False, input_fmt="NCHW"):
            super().__init__()
            if not pool_type:
                self.pool = nn.Identity()
                self.flatten = nn.Flatten(1) if flatten else nn.Identity()
            elif pool_type.startswith("fast"):
                if pool_type.endswith("max"):
                    self.pool = MaxPool(flatten, input_fmt=input_fmt)
                else:
                    self.pool = MeanPool(flatten, input_fmt=input_fmt)
                self.flatten = nn.Identity()
            else:
                if pool_type == "max":
                    self.pool = nn.AdaptiveMaxPool2d(1)
                else:
                    self.pool = nn.AdaptiveAvgPool2d(1)
                self.flatten = nn.Flatten(1) if flatten else nn.Identity()

        def forward(self, x):
            x = self.pool(x)
            return self.flatten(x)


    class Net(nn.Module):
        def __init__(self, pool_type="fast"):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, padding=1)
            self.pool = Select(pool_type, flatten=True)
            self.fc = nn.Linear(6, 5)

        def forward(self, x):
            return self.fc(self.pool(self.conv(x)))


    class ConvHead(nn.Module):
        def __init__(self, pool_type="fast"):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, padding=1)
            self.pool = Select(pool_type, flatten=False)
            self.fc = nn.Conv2d(6, 5, 1)

        def forward(self, x):
            return self.fc(self.pool(self.conv(x))).flatten(1)


    class GhostHead(nn.Module):
        # timm's GhostNet head: the pooled map goes to a 1x1 conv with no flatten
        # between; another method swaps the conv for an Identity (the slot's last
        # write), so the pool's result must reach it channels-last
        def __init__(self, pool_type="fast"):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, padding=1)
            self.global_pool = Select(pool_type)
            self.conv_head = nn.Conv2d(6, 5, 1)
            self.act2 = nn.ReLU(inplace=True)
            self.flatten = nn.Flatten(1) if pool_type else nn.Identity()
            self.classifier = nn.Linear(5, 4)

        def prune_head(self):
            self.conv_head = nn.Identity()
            self.act2 = nn.Identity()

        def forward(self, x):
            x = self.global_pool(self.conv(x))
            x = self.conv_head(x)
            x = self.act2(x)
            x = self.flatten(x)
            return self.classifier(x)
""")


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translate_files(SOURCE, tmp_path_factory.mktemp("slot_unions"))


@pytest.mark.parametrize("cls", ["Net", "ConvHead", "GhostHead"])
@pytest.mark.parametrize("pool_type", ["fast", "fastmax", "avg", "max"])
@pytest.mark.parametrize("jit", [False, True])
def test_pool_slot_parity(translated, cls, pool_type, jit):
    result, tmod, jmod, wmod = translated
    assert result.todo_count == 0, result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, cls, [x], kwargs={"pool_type": pool_type}, jit=jit)
