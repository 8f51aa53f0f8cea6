"""A subclass of a torch layer with only an ``__init__`` is the layer for its
callers (row_forward.py): a GroupNorm subclass handed torch order (a map
reshaped back), or an (N, C, L) batch by another caller, normalises torch's
channels as nn.GroupNorm does. The MetaFormer block reproducing timm's idiom
(callers handing images and tokens) is in test_settled_summaries.py."""

from __future__ import annotations

import numpy as np

from test_layout_forward import parity

HEADER = "import torch\nimport torch.nn as nn\n"

COMMON = '''

class Norm(nn.GroupNorm):
    def __init__(self, num_channels, **kwargs):
        super().__init__(2, num_channels, **kwargs)


class Mix(nn.Module):
    def forward(self, x):
        B, C, H, W = x.shape
        return x.reshape(B, C, H * W).softmax(-1).reshape(B, C, H, W)
'''

# Mix hands back its reshaped map in torch order; Norm used to take it as it came
# (with a torch-order caller its summary took torch order) while nnx.GroupNorm
# normalised the last axis
TORCH_ORDER = COMMON + """

class Net(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.mix = Mix()
        self.norm = Norm(c)
        self.out = nn.Conv2d(c, 4, 1)

    def forward(self, x):
        x = self.conv(x)
        return self.out(self.norm(self.mix(x)))
"""

# ... and a second Norm handed an (N, C, L) batch: each call at its own rank
TWO_RANKS = COMMON + """

class Net(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.conv = nn.Conv1d(3, c, 3, padding=1)
        self.norm = Norm(c)
        self.conv2 = nn.Conv2d(3, c, 1)
        self.mix = Mix()
        self.norm2 = Norm(c)

    def forward(self, x, s):
        y = self.norm(self.conv(s))
        z = self.norm2(self.mix(self.conv2(x)))
        return y.mean(-1) + z.mean((2, 3))
"""


def _inputs(*shapes):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(sh).astype(np.float32) for sh in shapes]


def test_norm_subclass_handed_torch_order(tmp_path):
    parity(TORCH_ORDER, tmp_path, "Net", _inputs((2, 3, 6, 5)), header=HEADER)


def test_norm_subclass_at_two_ranks(tmp_path):
    parity(TWO_RANKS, tmp_path, "Net", _inputs((2, 3, 6, 5), (2, 3, 7)), header=HEADER)
