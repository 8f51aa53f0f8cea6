"""A layer builder of one file (timm's ``create_conv2d``: ``nn.Conv2d`` or a conv
class of its file) used by a class of another file (``ConvNormAct``), whose
output a third file splits along channels (a CSP stage reached through a
factory, so its caller hands it channels-last as the contract says). Before,
the builder's layer was an unknown module to the second file: its input stayed
undecided and the stage split a channels-last tensor along axis 1."""

from __future__ import annotations

import textwrap

from harness import parity_beside, translate_beside


HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

CONVS = """
    class PadConv(nn.Module):
        # pads then convolves (timm's Conv2dSame): a class with its own forward
        def __init__(self, cin, cout, k):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k)
            self.k = k

        def forward(self, x):
            p = self.k - 1
            return self.conv(F.pad(x, (p // 2, p - p // 2, p // 2, p - p // 2)))


    def create_conv(cin, cout, k, same=False):
        if same:
            return PadConv(cin, cout, k)
        return nn.Conv2d(cin, cout, k, padding=k // 2)
"""

BLOCKS = """
    from .convs import create_conv


    class ConvAct(nn.Module):
        def __init__(self, cin, cout, k=1, same=False):
            super().__init__()
            self.conv = create_conv(cin, cout, k, same=same)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.conv(x))
"""

MODEL = """
    from .blocks import ConvAct


    class Stage(nn.Module):
        def __init__(self, c, same=False):
            super().__init__()
            self.half = c
            self.conv_exp = ConvAct(c, 2 * c)
            self.block = ConvAct(c, c, 3, same=same)
            self.conv_out = ConvAct(2 * c, c)

        def forward(self, x):
            x = self.conv_exp(x)
            xs, xb = x.split(self.half, dim=1)
            xb = self.block(xb)
            return self.conv_out(torch.cat([xs, xb], dim=1)) + x[:, :1]


    class Net(nn.Module):
        def __init__(self, stage_fn=None, same=False):
            super().__init__()
            stage_fn = stage_fn or Stage
            self.stem = nn.Conv2d(3, 4, 3, padding=1)
            self.stages = nn.Sequential(*[stage_fn(4, same=same) for _ in range(2)])

        def forward(self, x):
            return self.stages(self.stem(x))
"""


def _package(tmp_path):
    pkg = tmp_path / "src" / "bldpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name, src in {"convs": CONVS, "blocks": BLOCKS, "model": MODEL}.items():
        (pkg / f"{name}.py").write_text(HEADER + textwrap.dedent(src))
    return pkg.parent


def test_builder_of_another_file_returns_a_conv(tmp_path):
    root = _package(tmp_path)
    translate_beside(root, "bldpkg/model.py")
    model = (root / "bldpkg" / "model_nnx.py").read_text()
    # ConvAct knows its conv takes channels-last: the stage splits the last axis, no transposes
    assert "axis=-1" in model and "jnp.transpose" not in model, model
    for same in (False, True):
        # nn.Conv2d, and the conv class the builder returns on its other path
        parity_beside(root, "bldpkg.model", (2, 3, 8, 8), args=f"same={same}", image_out=True)
