"""A tensor leaving the branches of an ``if`` in different layouts (one branch
channels-last, another torch order) is brought to one layout at the end of each
branch (``branch_layouts.py``). Before, the join called it unknown and the code
after it guessed, wrong on one of the paths: timm's ConvNeXt block (layer scale
``x.mul(gamma.reshape(1, -1, 1, 1))`` under ``if self.gamma is not None``),
DaViT's block (``if self.mlp is not None: ... x.transpose(1, 2).view(B, C, H, W)``),
each chained in a Sequential, where the next block's depthwise conv got the
width as channels. Torch vs NNX with perturbed weights, eval and nnx.jit, on
every path."""

from __future__ import annotations

import pytest

from test_layout_forward import parity, rand

LAYER_SCALE = """
    class Block(nn.Module):
        def __init__(self, dim, ls=1e-1):
            super().__init__()
            self.conv_dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
            self.norm = nn.LayerNorm(dim)
            self.mlp = nn.Linear(dim, dim)
            self.gamma = nn.Parameter(ls * torch.ones(dim)) if ls is not None else None

        def forward(self, x):
            shortcut = x
            x = self.conv_dw(x)
            x = x.permute(0, 2, 3, 1)
            x = self.norm(x)
            x = self.mlp(x)
            x = x.permute(0, 3, 1, 2)
            if self.gamma is not None:
                x = x.mul(self.gamma.reshape(1, -1, 1, 1))
            x = x + shortcut
            return x


    class Net(nn.Module):
        def __init__(self, ls=1e-1, dim=8, depth=2):
            super().__init__()
            self.stem = nn.Conv2d(3, dim, 3, padding=1)
            blocks = []
            for i in range(depth):
                blocks.append(Block(dim, ls))
            self.blocks = nn.Sequential(*blocks)

        def forward(self, x):
            x = self.stem(x)
            return self.blocks(x)
"""


@pytest.mark.parametrize("ls", [0.5, None])
def test_layer_scale_in_an_if(tmp_path, ls):
    """ConvNeXt's layer scale under an ``if``: the body multiplies by a per-channel
    (1, C, 1, 1) view, the skipped path keeps the conv's output. Both leave the
    map channels-last (the view is taken on the last axis): the paths agree, no
    transpose on either (before, the join was unknown and the next block read
    channels-last data in torch order)."""
    result = parity(LAYER_SCALE, tmp_path, "Net", [rand(2, 3, 8, 10)], kwargs={"ls": ls})
    block = result.code[result.code.index("class Block"):result.code.index("class Net")]
    assert "reshape(1, 1, 1, -1)" in block and "jnp.transpose" not in block, block


TOKENS_BACK = """
    class PosConv(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.proj = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

        def forward(self, x):
            return x + self.proj(x)


    class Block(nn.Module):
        def __init__(self, dim, mlp=True):
            super().__init__()
            self.cpe = PosConv(dim)
            self.norm = nn.LayerNorm(dim) if mlp else None
            self.mlp = nn.Linear(dim, dim) if mlp else None

        def forward(self, x):
            B, C, H, W = x.shape
            x = self.cpe(x)
            if self.mlp is not None:
                x = x.flatten(2).transpose(1, 2)
                x = x + self.mlp(self.norm(x))
                x = x.transpose(1, 2).view(B, C, H, W)
            return x


    class Net(nn.Module):
        def __init__(self, mlp=True, dim=8):
            super().__init__()
            self.stem = nn.Conv2d(3, dim, 3, padding=1)
            self.blocks = nn.Sequential(Block(dim, mlp), Block(dim, mlp))

        def forward(self, x):
            return self.blocks(self.stem(x))
"""


@pytest.mark.parametrize("mlp", [True, False])
def test_if_without_else_back_to_torch_order(tmp_path, mlp):
    """DaViT: the body ends in torch order (tokens viewed back to (B, C, H, W)), the
    path around it channels-last; the next block's conv reads channels either way."""
    parity(TOKENS_BACK, tmp_path, "Net", [rand(2, 3, 6, 10)], kwargs={"mlp": mlp})


ELIF = """
    class Net(nn.Module):
        def __init__(self, mode=0, dim=8):
            super().__init__()
            self.mode = mode
            self.conv = nn.Conv2d(3, dim, 3, padding=1)
            self.dw = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
            self.scale = nn.Parameter(torch.linspace(0.5, 1.5, dim))

        def forward(self, x):
            x = self.conv(x)
            B, C, H, W = x.shape
            if self.mode == 0:
                x = x * self.scale.reshape(1, -1, 1, 1)
            elif self.mode == 1:
                x = x.flatten(2).transpose(1, 2) * self.scale
                x = x.transpose(1, 2).reshape(B, C, H, W)
            else:
                return x.sum((2, 3), keepdim=True)
            return self.dw(x)
"""


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_elif_branches(tmp_path, mode):
    """An elif chain whose branches end in different layouts (one returns early):
    each live branch ends in one layout."""
    parity(ELIF, tmp_path, "Net", [rand(2, 3, 6, 10)], kwargs={"mode": mode})
