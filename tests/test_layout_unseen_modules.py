"""Modules handed around as values: the caller cannot see which class it
calls, so under the contract it hands over channels-last maps as they are,
and the class must take them channels-last. A class whose input reaches no
spatial layer still says it is an image batch when it reduces dims (2, 3) of
it (timm's ECA attention: `x.mean((2, 3))`, a 1-d conv over channels).
Torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import numpy as np

import textwrap

from harness import parity_beside, run_parity, translate_beside, translate_files
from test_layout_forward import HEADER

ECA = """
    class Eca(nn.Module):
        def __init__(self, k=3):
            super().__init__()
            self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

        def forward(self, x):
            y = x.mean((2, 3)).view(x.shape[0], 1, -1)
            y = self.conv(y)
            y = y.sigmoid().view(x.shape[0], -1, 1, 1)
            return x * y.expand_as(x)


    class Block(nn.Module):
        def __init__(self, c, attn_layer=None):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.bn = nn.BatchNorm2d(c)
            self.attn = attn_layer() if attn_layer is not None else None

        def forward(self, x):
            x = self.bn(self.conv(x))
            if self.attn is not None:
                x = self.attn(x)
            return torch.relu(x)


    def block_with_eca(c=8):
        return Block(c, attn_layer=Eca)
"""


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_module_reducing_dims_2_3_takes_an_image_batch_channels_last(tmp_path):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(ECA), tmp_path)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "block_with_eca", [rand(2, 8, 6, 6)], jit=jit, layout_class="Block")
    eca = result.layout_of("Eca")
    assert eca is not None and eca.takes["x"].channels_last, "Eca must take x channels-last"


NORM_FILE = """
    class LayerNorm2d(nn.LayerNorm):
        def __init__(self, num_channels, eps=1e-6, affine=True):
            super().__init__(num_channels, eps=eps, elementwise_affine=affine)
            self.fast = False

        def forward(self, x):
            x = x.permute(0, 2, 3, 1)
            if self.fast:
                x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            else:
                x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            x = x.permute(0, 3, 1, 2)
            return x
"""

MODEL_FILE = """
    from typing import Type
    from .norm import LayerNorm2d


    class Down(nn.Module):
        def __init__(self, dim, norm_layer: Type[nn.Module] = LayerNorm2d):
            super().__init__()
            self.norm1 = norm_layer(dim) if norm_layer is not None else nn.Identity()
            self.conv = nn.Conv2d(dim, dim, 3, padding=1)

        def forward(self, x):
            return self.conv(self.norm1(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.down = Down(8)

        def forward(self, x):
            return self.down(self.stem(x)).mean((2, 3))
"""


def test_factory_defaulting_to_another_files_class_uses_its_layouts(tmp_path):
    """timm's gcvit: `norm_layer: Type[nn.Module] = LayerNorm2d`, the class of
    another file of the run (timm.layers.norm). The slot is that class: the maps
    handed to it are recorded, so it is translated taking them channels-last
    (before, no call reached it, it took torch order and was handed
    channels-last maps: a reshape error, or wrong numbers when C == W)."""
    pkg = tmp_path / "normpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "norm.py").write_text(HEADER + textwrap.dedent(NORM_FILE))
    (pkg / "model.py").write_text(HEADER + textwrap.dedent(MODEL_FILE))
    translate_beside(tmp_path, "normpkg/model.py")
    parity_beside(tmp_path, "normpkg.model", (2, 3, 8, 8))


CROP = """
    class Up(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.down = nn.Conv2d(c, c, 3, stride=2, padding=1)
            self.up = nn.ConvTranspose2d(c, c, 4, stride=2, padding=1)

        def forward(self, x):
            H, W = x.shape[-2:]
            o = self.up(self.down(x))
            return o[..., :H, :W]


    class Residual(nn.Module):
        def __init__(self, main, shortcut):
            super().__init__()
            self.main = main
            self.shortcut = shortcut

        def forward(self, x):
            return self.main(x) + self.shortcut(x)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.block = Residual(Up(8), nn.Identity())

        def forward(self, x):
            return self.block(self.stem(x))
"""


def test_crop_with_an_ellipsis_keeps_the_map_channels_last(tmp_path):
    """timm's CPUBone / LowFormer: ``o[..., :H, :W]`` crops an upsampled map. The
    ``...`` stands for full slices, so the crop moves onto the channels-last axes
    and the class returns channels-last as the contract says (before, it read the
    map back in torch order and returned that, and a residual that cannot see
    the class added it to a channels-last shortcut). The input is odd-sized so
    the crop cuts."""
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(CROP), tmp_path)
    assert "o[:, :H, :W]" in result.code
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 7, 7)], jit=jit)
