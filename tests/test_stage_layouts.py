"""One name held in different layouts by the branches of an ``if``
(``translator/branch_envs.py``, ``translator/branch_layouts.py``): timm's
MetaFormer stages turn a channels-last image into a token tensor on one path
only (``if not self.use_nchw: x = x.reshape(B, C, -1).transpose(1, 2)``).
Before, the join forgot both layouts and the code after it transposed the
image path's channels-last data as if it were in torch order. Now each branch
brings the value to one layout at its end: channels-last when the branches
share a rank and one holds an image, torch order otherwise. Torch vs NNX,
perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import pytest

from harness import run_parity, translate_files
from test_layout_forward import HEADER, rand

SOURCE = """
class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.GroupNorm(1, dim)
        self.fc = nn.Conv2d(dim, dim, 1)

    def forward(self, x):
        return x + self.fc(self.norm(x))


class Stage(nn.Module):
    def __init__(self, use_nchw=True):
        super().__init__()
        self.use_nchw = use_nchw
        self.down = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(*[Block(6) for _ in range(2)])

    def forward(self, x):
        x = self.down(x)
        B, C, H, W = x.shape
        if not self.use_nchw:
            x = x.reshape(B, C, -1).transpose(1, 2)
        x = self.blocks(x)
        if not self.use_nchw:
            x = x.transpose(1, 2).reshape(B, C, H, W)
        return x


class SameRank(nn.Module):
    def __init__(self, mode=0):
        super().__init__()
        self.mode = mode
        self.down = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.up = nn.Conv2d(6, 4, 3, padding=1)

    def forward(self, x):
        x = self.down(x)
        B, C, H, W = x.shape
        if self.mode == 0:
            x = x.reshape(B, C * H, W).reshape(B, C, H, W) * 2.0
        elif self.mode == 1:
            x = x - 1.0
        else:
            x = x.reshape(B, C, H * W).reshape(B, C, H, W) + 1.0
        return self.up(x)
"""


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    import textwrap

    return translate_files(HEADER + textwrap.dedent(SOURCE), tmp_path_factory.mktemp("branch_layouts"))


def test_image_kept_on_one_path_token_tensor_on_the_other(translated):
    """The image path (the one an image model takes) at parity: the implicit else
    moves the channels-last map to torch order, as the token path holds its value."""
    result, tmod, jmod, wmod = translated
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Stage", [rand(2, 3, 8, 6)],
                   kwargs=lambda m, r: {"use_nchw": True}, jit=jit)
    assert "else:" in result.code.split("class Stage")[1]


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_branches_of_one_rank_agree_on_channels_last(translated, mode):
    """A reshape round trip (torch order) on two paths of an if/elif/else, the map
    untouched on the third: those two transpose back to channels-last at their end."""
    result, tmod, jmod, wmod = translated
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "SameRank", [rand(2, 3, 8, 6)],
                   kwargs=lambda m, r: {"mode": mode}, jit=jit)
    s = result.layout_of("SameRank")
    assert s is not None and s.takes["x"].channels_last
