"""Forward-pass layout failures of the timm corpus (models that build and load
weights, then fail on a channels-last value read in torch order): lists of
tensors handed between modules, parameters wrapped in lists, and the like.
Each case: torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import parity_beside, run_parity, translate_beside, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom typing import List, Optional\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def parity(source, tmp_path, cls, inputs, header=HEADER, kwargs=None):
    result, tmod, jmod, wmod = translate_files(header + textwrap.dedent(source), tmp_path)
    run_parity(result, tmod, jmod, wmod, cls, inputs, kwargs=kwargs)
    run_parity(result, tmod, jmod, wmod, cls, inputs, jit=True, kwargs=kwargs)
    return result


LISTS = """
    class SequentialList(nn.Sequential):
        def __init__(self, *args):
            super().__init__(*args)

        def forward(self, x) -> List[torch.Tensor]:
            for module in self:
                x = module(x)
            return x


    class Block(nn.Module):
        def __init__(self, cin, skip, cout, is_first):
            super().__init__()
            self.is_first = is_first
            self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
            self.conv6 = nn.Conv2d(cout + (0 if is_first else skip), cout, 1)

        def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
            if not isinstance(x, list):
                x = [x]
            d1 = self.conv1(x[0])
            if self.is_first:
                out = self.conv6(d1)
                return [out, out]
            else:
                return [self.conv6(torch.cat([d1, x[1]], 1)), x[1]]


    class Root(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 1)

        def forward(self, x_children: List[torch.Tensor]):
            x = self.conv(torch.cat(x_children, 1))
            return x + x_children[0]


    class Tree(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.root = Root(3 * c, c)

        def forward(self, x, children: Optional[List[torch.Tensor]] = None):
            if children is None:
                children = []
            children.append(x)
            x1 = self.conv(x)
            x2 = self.conv(x1)
            return self.root([x2, x1] + children)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.features = SequentialList(Block(8, 8, 8, True), Block(8, 8, 8, False))
            self.tree = Tree(8)

        def forward(self, x):
            x = self.stem(x)
            x = self.features([x])
            x = self.tree(x[0])
            return x.mean((2, 3))
"""


def test_lists_of_tensors_between_modules(tmp_path):
    """selecsls (`if not isinstance(x, list): x = [x]`, blocks reached through a
    Sequential subclass) and dla (`children = []` default, `[x2, x1] + children`
    handed to a root that concatenates them): the list's items keep their layout."""
    result = parity(LISTS, tmp_path, "Net", [rand(2, 3, 8, 8)])
    assert "jnp.transpose" not in result.code.split("class Net")[0]


SHADOWED_HELPER = """
    class Pool(nn.Module):
        def __init__(self, flatten: bool = False):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten(1) if flatten else nn.Identity()

        def forward(self, x):
            return self.flatten(self.pool(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.pool = Pool(flatten=True)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(self.pool(self.conv(x)))
"""


def test_helper_shadowed_by_a_parameter(tmp_path):
    """timm's SelectAdaptivePool2d(flatten=True): `nn.Flatten(1) if flatten else ...`
    must not call the bool; the flatten helper is reached through a second name."""
    result = parity(SHADOWED_HELPER, tmp_path, "Net", [rand(2, 3, 8, 8)])
    assert "_t2n_flatten = flatten" in result.code


PATCH_LAYERS = """
    class PatchEmbed(nn.Module):
        def __init__(self, in_chans=3, embed_dim=8, dynamic_img_pad=False):
            super().__init__()
            self.proj = nn.Conv2d(in_chans, embed_dim, 4, 4)
            self.patch_size = (4, 4)
            self.dynamic_img_pad = dynamic_img_pad

        def forward(self, x):
            B, C, H, W = x.shape
            if self.dynamic_img_pad:
                pad_h = (self.patch_size[0] - H % self.patch_size[0]) % self.patch_size[0]
                pad_w = (self.patch_size[1] - W % self.patch_size[1]) % self.patch_size[1]
                x = F.pad(x, (0, pad_w, 0, pad_h))
            x = self.proj(x)
            return x.flatten(2).transpose(1, 2)  # NCHW -> NLC
"""

PATCH_MODEL = """
    from .layers import PatchEmbed


    class Net(nn.Module):
        def __init__(self, embed_dim=8, dynamic_img_pad=True, patch_layer=PatchEmbed):
            super().__init__()
            self.patch_embed = patch_layer(in_chans=3, embed_dim=embed_dim, dynamic_img_pad=dynamic_img_pad)
            self.fc = nn.Linear(embed_dim, 4)

        def forward(self, x):
            x = self.patch_embed(x)
            return self.fc(x.mean(1))
"""


def _package(tmp_path, files: dict):
    pkg = tmp_path / "src" / "fwdpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name, src in files.items():
        (pkg / f"{name}.py").write_text(HEADER + textwrap.dedent(src))
    return pkg.parent


def test_parameter_padded_before_a_conv_is_taken_channels_last(tmp_path):
    """cait/vit's PatchEmbed pads its input (F.pad) before the patch conv: the pad
    does not fix the input's layout, the conv does. Callers in other files that
    do not know the class (a factory argument) hand it channels-last, as the
    output contract says every translated module takes."""
    root = _package(tmp_path, {"layers": PATCH_LAYERS, "model": PATCH_MODEL})
    translate_beside(root, "fwdpkg/model.py")
    layers = (root / "fwdpkg" / "layers_nnx.py").read_text()
    assert "B, H, W, C = x.shape" in layers and "jnp.transpose" not in layers
    parity_beside(root, "fwdpkg.model", (2, 3, 14, 14))


SHAPE_READ = """
    class ConvMlp(nn.Module):
        def __init__(self, in_features=8, out_features=16, kernel_size=3):
            super().__init__()
            self.input_kernel_size = kernel_size
            self.fc1 = nn.Conv2d(in_features, out_features, kernel_size, bias=True)
            self.act1 = nn.ReLU(True)
            self.fc2 = nn.Conv2d(out_features, out_features, 1, bias=True)

        def forward(self, x):
            if x.shape[-2] < self.input_kernel_size or x.shape[-1] < self.input_kernel_size:
                size = (max(self.input_kernel_size, x.shape[-2]), max(self.input_kernel_size, x.shape[-1]))
                x = F.adaptive_avg_pool2d(x, size)
            return self.fc2(self.act1(self.fc1(x)))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.pre_logits = ConvMlp(8, 16, 3)
            self.head = nn.Linear(16, 4)

        def reset(self):
            self.pre_logits = nn.Identity()
            self.head = nn.Linear(8, 4)

        def forward_head(self, x, pre_logits: bool = False):
            x = self.pre_logits(x)
            x = x.mean((2, 3))
            return x if pre_logits else self.head(x)

        def forward(self, x):
            return self.forward_head(self.conv(x))
"""


def test_shape_read_before_a_conv_does_not_fix_the_layout(tmp_path):
    """vgg's ConvMlp reads x.shape[-2] before its first conv, behind an attribute
    no call site resolves (pre_logits is also nn.Identity()): the read does not
    make the input torch order; the conv makes it channels-last."""
    result = parity(SHAPE_READ, tmp_path, "Net", [rand(2, 3, 2, 2)])
    assert "jnp.transpose" not in result.code.split("class Net")[0].split("class ConvMlp")[1]


def test_a_sequential_filled_by_add_module_in_a_builder(tmp_path):
    """timm's create_csp_stem: ``stem = nn.Sequential()`` filled by add_module in
    a builder returning ``(stem, info)``: the layers it was filled with decide
    its layout, so the model takes channels-last and the mean's axes follow."""
    result = parity("""
        def create_stem(in_chans=3, out_chs=8):
            stem = nn.Sequential()
            stem.add_module("conv", nn.Conv2d(in_chans, out_chs, 3, padding=1))
            stem.add_module("bn", nn.BatchNorm2d(out_chs))
            return stem, dict(num_chs=out_chs)


        class Net(nn.Module):
            def __init__(self, in_chans=3):
                super().__init__()
                self.stem, info = create_stem(in_chans)
                self.head = nn.Linear(info["num_chs"], 4)

            def forward_features(self, x):
                return self.stem(x)

            def forward(self, x):
                x = self.forward_features(x)
                return self.head(x.mean((2, 3)))
    """, tmp_path, "Net", [rand(2, 3, 6, 6)])
    assert "axis=(1, 2)" in result.code and "transpose" not in result.code.split("class Net")[1]


DENSE_STAGE = """
    from typing import List


    class Block(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.layers = nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1, groups=cin), nn.BatchNorm2d(cin),
                                        nn.Conv2d(cin, cout, 1))

        def forward(self, x):
            return self.layers(x)


    class DenseBlock(nn.Module):
        def __init__(self, cin, growth):
            super().__init__()
            self.layers = Block(cin, growth)
            self.gamma = nn.Parameter(torch.rand(growth) + 0.5)

        def forward(self, x: List[torch.Tensor]) -> torch.Tensor:
            x = torch.cat(x, 1)
            x = self.layers(x)
            return x.mul(self.gamma.reshape(1, -1, 1, 1))


    class DenseStage(nn.Sequential):
        def __init__(self, n=2, cin=6, growth=4):
            super().__init__()
            for i in range(n):
                self.add_module(f"dense_block{i}", DenseBlock(cin, growth))
                cin += growth

        def forward(self, init_feature):
            features = [init_feature]
            for module in self:
                new_feature = module(features)
                features.append(new_feature)
            return torch.cat(features, 1)
"""


def test_list_of_a_parameter_decided_after_the_call_it_is_handed_to(tmp_path):
    """timm's RDNet ``DenseStage``: ``module(features)`` hands a list of
    ``init_feature`` on before the final ``torch.cat(features, 1)`` decides that
    parameter channels-last. The call is recorded with the layout decided by
    the end of the function (before: "a list of init_feature", a name meaning
    nothing to DenseBlock, which read it as torch order and concatenated widths:
    its conv's feature_group_count did not divide the input's features)."""
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(DENSE_STAGE), tmp_path)
    assert "jnp.concatenate(x, axis=-1)" in result.code
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "DenseStage", [rand(2, 6, 5, 5)], jit=jit)
