"""Model inputs and reshapes whose layouts the analysis must not guess wrong:
starred view sizes (twins' PosConv), ... Each case: torch vs NNX, perturbed
weights, eval and nnx.jit, rtol = atol = 1e-4."""

from __future__ import annotations

from test_layout_forward import parity as _parity
from test_layout_forward import rand

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom typing import List, Optional, Tuple\n\n\n"


def parity(source, tmp_path, cls, inputs):
    return _parity(source, tmp_path, cls, inputs, header=HEADER)


STARRED_VIEW = """
    class PosConv(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.proj = nn.Conv2d(c, c, 3, 1, 1, groups=c)

        def forward(self, x, size: Tuple[int, int]):
            B, N, C = x.shape
            feat = x.transpose(1, 2).view(B, C, *size)
            x = self.proj(feat)
            x += feat
            return x.flatten(2).transpose(1, 2)


    class PosAdd(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.proj = nn.Conv2d(c, c, 3, 1, 1)

        def forward(self, x, size: Tuple[int, int]):
            B, N, C = x.shape
            feat = x.transpose(1, 2).reshape(B, C, *size)
            y = self.proj(x.transpose(1, 2).reshape(B, C, size[0], size[1]))
            y += feat * 2.0
            return y.flatten(2).transpose(1, 2)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Conv2d(3, 8, 2, 2)
            self.pos = PosConv(8)
            self.add = PosAdd(8)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            x = self.embed(x)
            size = x.shape[2:]
            x = x.flatten(2).transpose(1, 2)
            x = self.pos(x, size)
            x = self.add(x, size)
            return self.fc(x)
"""


def test_view_with_starred_sizes_has_their_rank(tmp_path):
    """twins' PosConv: `x.transpose(1, 2).view(B, C, *size)` is a rank-4 image
    (2 + len(size)), not rank 3: added to the conv's channels-last output it is
    transposed as an image, never broadcast as a smaller operand. A sum whose
    target had to go back to torch order (`y += feat * 2.0`, feat of unknown
    rank) leaves the target in torch order for what reads it next."""
    result = parity(STARRED_VIEW, tmp_path, "Net", [rand(2, 3, 8, 8)])
    assert "expand_dims" not in result.code
