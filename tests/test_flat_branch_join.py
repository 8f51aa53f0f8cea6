"""Branches of an ``if`` rejoining where one path's map went through a
Flatten-or-Identity slot (branch_layouts.py): that value may be flattened at
run time (``reshape_or_pass``), so the join used to give up, leaving it unknown
with no transpose; the class then returned channels-last on that path while its
caller read torch order. Now every branch ends in torch order, the maybe
flattened value through the ``torch_order`` helper (a map transposed at its
rank only)."""

from __future__ import annotations

import numpy as np
import pytest

from test_layout_forward import parity

HEADER = "import torch\nimport torch.nn as nn\n"

SOURCE = """

class Head(nn.Module):
    def __init__(self, flat=False):
        super().__init__()
        self.flatten = nn.Flatten(1) if flat else nn.Identity()

    def forward(self, x, pool: bool = True):
        if pool:
            x = self.flatten(x + 1)
        else:
            B, C, H, W = x.shape
            x = x.reshape(B, C, H * W).softmax(-1).reshape(B, C, H, W)
        return x


class Net(nn.Module):
    def __init__(self, c=8, pool=True):
        super().__init__()
        self.pool = pool
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.head = Head()

    def forward(self, x):
        h = self.head(self.conv(x), self.pool)
        return h.mean((2, 3)) + h[:, :, 1, 0]
"""


@pytest.mark.parametrize("pool", [True, False])
def test_flatten_or_identity_branch_rejoins_in_torch_order(tmp_path, pool):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(np.float32)
    parity(SOURCE, tmp_path, "Net", [x], header=HEADER, kwargs={"pool": pool})
