"""A layer whose layout a constructor flag chooses (translator/flag_layouts.py):
timm's GlobalResponseNorm picks its dims and per-channel shape in ``__init__``
under ``channels_last``, and one class serves an MLP of 1x1 convs (NCHW images)
and one of Linears (tensors permuted to NHWC). Reached through a factory in
another file, its input is taken as it is; before, the NCHW instance read a
channels-last map with torch's dims (ConvNeXt-V2: ``(1, 160, 1, 1)`` against
``(2, 8, 8, 160)``). Torch vs NNX, perturbed weights, eager and nnx.jit."""

from __future__ import annotations

import textwrap

from harness import parity_beside, translate_beside

HEADER = "from functools import partial\nimport torch\nimport torch.nn as nn\n\n\n"

NORMS = """
    class ResponseNorm(nn.Module):
        def __init__(self, dim, eps=1e-6, channels_last=True):
            super().__init__()
            self.eps = eps
            if channels_last:
                self.spatial_dim = (1, 2)
                self.channel_dim = -1
                self.wb_shape = (1, 1, 1, -1)
            else:
                self.spatial_dim = (2, 3)
                self.channel_dim = 1
                self.wb_shape = (1, -1, 1, 1)
            self.weight = nn.Parameter(torch.zeros(dim))
            self.bias = nn.Parameter(torch.zeros(dim))

        def forward(self, x):
            x_g = x.norm(p=2, dim=self.spatial_dim, keepdim=True)
            x_n = x_g / (x_g.mean(dim=self.channel_dim, keepdim=True) + self.eps)
            return x + torch.addcmul(self.bias.view(self.wb_shape), self.weight.view(self.wb_shape), x * x_n)
"""

MLPS = """
    from .norms import ResponseNorm


    class GrnMlp(nn.Module):
        def __init__(self, dim, hidden, use_conv=False):
            super().__init__()
            linear_layer = partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear
            self.fc1 = linear_layer(dim, hidden)
            self.act = nn.GELU()
            self.grn = ResponseNorm(hidden, channels_last=not use_conv)
            self.fc2 = linear_layer(hidden, dim)

        def forward(self, x):
            x = self.fc1(x)
            x = self.act(x)
            x = self.grn(x)
            return self.fc2(x)


    class PlainMlp(nn.Module):
        def __init__(self, dim, hidden, use_conv=False):
            super().__init__()
            linear_layer = partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear
            self.fc1 = linear_layer(dim, hidden)
            self.fc2 = linear_layer(hidden, dim)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))
"""

MODEL = """
    from .mlps import GrnMlp, PlainMlp


    class Block(nn.Module):
        def __init__(self, dim, conv, use_grn=True):
            super().__init__()
            self.conv = conv
            self.dw = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
            mlp_layer = partial(GrnMlp if use_grn else PlainMlp, use_conv=conv)
            self.mlp = mlp_layer(dim, 2 * dim)

        def forward(self, x):
            shortcut = x
            x = self.dw(x)
            if self.conv:
                x = self.mlp(x)
            else:
                x = x.permute(0, 2, 3, 1)
                x = self.mlp(x)
                x = x.permute(0, 3, 1, 2)
            return x + shortcut


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.b1 = Block(8, True)
            self.b2 = Block(8, False)
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            return self.head(self.b2(self.b1(self.stem(x))))
"""


def _package(tmp_path):
    pkg = tmp_path / "src" / "flagpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name, src in {"norms": NORMS, "mlps": MLPS, "model": MODEL}.items():
        (pkg / f"{name}.py").write_text(HEADER + textwrap.dedent(src))
    return pkg.parent


def test_flag_chosen_layout_reads_each_instance_as_torch(tmp_path):
    root = _package(tmp_path)
    translate_beside(root, "flagpkg/model.py")
    norms = (root / "flagpkg" / "norms_nnx.py").read_text()
    # the NCHW branch's literals in channels-last terms; the NHWC branch as written
    assert "self.spatial_dim = (2, 3)" not in norms and "self.wb_shape = (1, -1, 1, 1)" not in norms, norms
    assert norms.count("self.spatial_dim = (1, 2)") == 2 and "self.channel_dim = 3" in norms, norms
    # Block(8, conv=True) hands the norm NCHW images, Block(8, conv=False) NHWC tensors
    parity_beside(root, "flagpkg.model", (2, 3, 6, 6), image_out=True)


def test_flag_chosen_layout_alone(tmp_path):
    """The norm by itself, built for NCHW: no caller decides its input, so it takes
    the channels-last image the contract hands it."""
    root = _package(tmp_path)
    translate_beside(root, "flagpkg/norms.py")
    parity_beside(root, "flagpkg.norms", (2, 8, 6, 6), cls="ResponseNorm",
                  args="8, channels_last=False", image_out=True)
