"""A parameter whose first use is an op with dims (a mean, a pad) is read in
torch's order for want of a layout; when the result reaches a spatial layer
the parameter is taken channels-last from the next round on (its origin).
Each case: torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import numpy as np

from test_layout_forward import parity, rand  # noqa: F401  (rand: the cases' inputs)


SQUEEZE = """
    class SE(nn.Module):
        def __init__(self, c, add_maxpool=True):
            super().__init__()
            self.add_maxpool = add_maxpool
            self.fc1 = nn.Conv2d(c, c // 2, 1)
            self.fc2 = nn.Conv2d(c // 2, c, 1)

        def forward(self, x):
            x_se = x.mean((2, 3), keepdim=True)
            if self.add_maxpool:
                x_se = 0.5 * x_se + 0.5 * x.amax((2, 3), keepdim=True)
            x_se = self.fc2(F.relu(self.fc1(x_se)))
            return x * x_se.sigmoid()


    def get_attn(name):
        if name == "se":
            return SE
        return None


    class Block(nn.Module):
        def __init__(self, c, attn="se"):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            cls = get_attn(attn)
            self.se = cls(c) if cls is not None else nn.Identity()

        def forward(self, x):
            return self.se(self.conv(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.block = Block(8)

        def forward(self, x):
            return self.block(self.stem(x)).mean((2, 3))
"""


def test_mean_of_a_parameter_into_a_conv(tmp_path):
    """timm's SEModule, built through a registry (`get_attn('se')`) so its caller
    cannot know the class and hands it channels-last, as the contract says: the
    input's first use is `x.mean((2, 3), keepdim=True)`, whose result reaches a 1x1
    conv, so the module takes x channels-last."""
    result = parity(SQUEEZE, tmp_path, "Net", [rand(2, 3, 8, 8)])
    se = result.code.split("class SE")[1].split("def get_attn")[0]
    assert "jnp.transpose" not in se


SPLIT_ITEMS = """
    class ConvBlock(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dw = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

        def forward(self, x):
            return x + self.dw(x)


    class SplitBlock(nn.Module):
        def __init__(self, dim, scales=2):
            super().__init__()
            width = dim // scales
            self.convs = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1, groups=width) for _ in range(scales - 1)])
            self.fc = nn.Linear(dim, dim)

        def forward(self, x):
            shortcut = x
            spx = x.chunk(len(self.convs) + 1, dim=1)
            spo = []
            sp = spx[0]
            for i, conv in enumerate(self.convs):
                if i > 0:
                    sp = sp + spx[i]
                sp = conv(sp)
                spo.append(sp)
            spo.append(spx[-1])
            x = torch.cat(spo, 1)
            B, C, H, W = x.shape
            x = x.reshape(B, C, H * W).permute(0, 2, 1)
            x = self.fc(x)
            x = x.reshape(B, H, W, C).permute(0, 3, 1, 2)
            return shortcut + x


    class Net(nn.Module):
        def __init__(self, dim=8, depth=3):
            super().__init__()
            self.stem = nn.Conv2d(3, dim, 3, padding=1)
            blocks = []
            for i in range(depth):
                if i < depth - 1:
                    blocks.append(ConvBlock(dim))
                else:
                    blocks.append(SplitBlock(dim))
            self.blocks = nn.Sequential(*blocks)

        def forward(self, x):
            return self.blocks(self.stem(x))
"""


def test_items_of_a_split_parameter_into_a_conv(tmp_path):
    """timm's EdgeNeXt SplitTransposeBlock: the input's first use is
    ``x.chunk(n, dim=1)`` and an item of it reaches a depthwise conv. The item keeps
    the split's origin, so the block takes x channels-last, as the ConvBlock before
    it in the Sequential hands it (before, the item lost it: the block took torch
    order, and the Sequential fed it channels-last, silently)."""
    result = parity(SPLIT_ITEMS, tmp_path, "Net", [rand(2, 3, 6, 10)])
    split = result.code.split("class SplitBlock")[1].split("class Net")[0]
    assert "axis=-1" in split
