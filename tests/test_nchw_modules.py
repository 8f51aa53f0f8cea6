"""Small modules whose NCHW idioms met the channels-last maps of the translation
(timm's split attention, global context): an ``if`` whose branches leave one
variable in different layouts brings it to one layout at the end of each
branch (``translator/branch_layouts.py``), and an optional layer slot
(``nn.Conv2d(...) if flag else None``) is the layer where it is called, so its
input is taken channels-last. Torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import pytest

from test_layout_forward import parity, rand

RADIX = """
    class Split(nn.Module):
        def __init__(self, c, radix):
            super().__init__()
            self.radix = radix
            self.conv = nn.Conv2d(c, c * radix, 3, padding=1)
            self.fc = nn.Conv2d(c, c * radix, 1)

        def forward(self, x):
            x = self.conv(x)
            B, RC, H, W = x.shape
            if self.radix > 1:
                x = x.reshape((B, self.radix, RC // self.radix, H, W))
                x_gap = x.sum(dim=1)
            else:
                x_gap = x
            x_gap = x_gap.mean((2, 3), keepdim=True)
            x_attn = self.fc(x_gap).view(B, self.radix, RC // self.radix, 1, 1).softmax(1)
            if self.radix > 1:
                out = (x * x_attn).sum(dim=1)
            else:
                out = x * x_attn.view(B, RC, 1, 1)
            return out


    class Net(nn.Module):
        def __init__(self, radix):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.split = Split(8, radix)
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            return self.head(self.split(self.stem(x)))
"""


@pytest.mark.parametrize("radix", [1, 2])
def test_branches_leaving_a_map_reshaped_or_not(tmp_path, radix):
    """timm's SplitAttn: a rank-5 radix split on one path, the map on the other."""
    from harness import run_parity, translate_files
    from test_layout_forward import HEADER
    import textwrap

    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(RADIX), tmp_path)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 6, 5)], kwargs={"radix": radix}, jit=jit)


PERMUTED = """
    class Block(nn.Module):
        def __init__(self, c, nchw):
            super().__init__()
            self.nchw = nchw
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.scale = nn.Parameter(torch.randn(c))

        def forward(self, x):
            x = self.conv(x)
            if not self.nchw:
                x = x.permute(0, 2, 3, 1)
            if self.nchw:
                x = x * self.scale.view(1, -1, 1, 1)
            else:
                x = (x * self.scale).permute(0, 3, 1, 2)
            return x


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Block(6, True)
            self.b = Block(6, False)
            self.head = nn.Conv2d(6, 4, 1)

        def forward(self, x):
            return self.head(self.b(self.a(x)))
"""


def test_a_permute_taken_on_one_path_only(tmp_path):
    """MaxxViT's ``if not self.nchw_attn: x = x.permute(0, 2, 3, 1)``."""
    parity(PERMUTED, tmp_path, "Net", [rand(2, 6, 5, 7)])


GLOBAL_CONTEXT = """
    class GlobalContext(nn.Module):
        def __init__(self, c, use_attn=True):
            super().__init__()
            self.conv_attn = nn.Conv2d(c, 1, 1) if use_attn else None
            self.fc = nn.Conv2d(c, c, 1)

        def forward(self, x):
            B, C, H, W = x.shape
            if self.conv_attn is not None:
                attn = self.conv_attn(x).reshape(B, 1, H * W)
                attn = F.softmax(attn, dim=-1).unsqueeze(3)
                context = x.reshape(B, C, H * W).unsqueeze(1) @ attn
                context = context.view(B, C, 1, 1)
            else:
                context = x.mean(dim=(2, 3), keepdim=True)
            return x * self.fc(context).sigmoid()


    class Net(nn.Module):
        def __init__(self, attn_layer):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.gc = attn_layer(8)
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            return self.head(self.gc(self.conv(x)))
"""


def test_optional_layer_slot_takes_channels_last(tmp_path):
    """timm's GlobalContext reached as a value (``create_attn``): ``conv_attn`` is a
    conv or None; before, its input stayed undecided and was read in torch order."""
    from harness import run_parity, translate_files
    from test_layout_forward import HEADER
    import textwrap

    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(GLOBAL_CONTEXT), tmp_path)

    def kwargs(mod, rngs):
        return {"attn_layer": mod.GlobalContext}

    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 5, 7)], kwargs=kwargs, jit=jit)


S2D_LAYERS = """
    class SpaceToDepth(nn.Module):
        def __init__(self, block_size: int = 2):
            super().__init__()
            self.bs = block_size

        def forward(self, x):
            N, C, H, W = x.size()
            x = x.view(N, C, H // self.bs, self.bs, W // self.bs, self.bs)
            x = x.permute(0, 3, 5, 1, 2, 4).contiguous()
            return x.view(N, C * self.bs * self.bs, H // self.bs, W // self.bs)
"""

S2D_MODEL = """
    from collections import OrderedDict
    from .layers import SpaceToDepth


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(OrderedDict([('s2d', SpaceToDepth()), ('conv', nn.Conv2d(12, 4, 3))]))

        def forward(self, x):
            return self.body(x)
"""


def test_named_sequential_of_another_files_class_needing_a_layout_change(tmp_path):
    """TResNet's body: ``nn.Sequential(OrderedDict([('s2d', SpaceToDepth()), ('conv1', ...)]))``
    with SpaceToDepth (torch order in and out) from another file. The fold reads
    that file's summary: before, the layout change it could not make between two
    named layers was marked T2N004 (and before that the body was handed
    channels-last maps that SpaceToDepth read in torch order, silently). Now the
    class is asked to return channels-last, as its next layer takes it
    (sequential_returns.py), and any change left travels with the container
    (``moves=``): no marker, and the model matches torch."""
    from harness import parity_beside, translate_beside
    from test_layout_forward import _package

    root = _package(tmp_path, {"layers": S2D_LAYERS, "model": S2D_MODEL})
    p = translate_beside(root, "fwdpkg/model.py")
    model = (root / "fwdpkg" / "model_nnx.py").read_text()
    assert "T2N004" not in model and "T2N004" not in p.stdout + p.stderr, model
    parity_beside(root, "fwdpkg.model", (2, 3, 8, 8), image_out=True)
