"""Layer classes reached through module-level names (layer_globals.py) and
layers gathered in locals that a function returns in a container: timm's
byobnet ``_block_registry[block](**kwargs)`` behind ``create_block``, the
``SqueezeExcite = SEModule`` alias other files import, ``_SE_LAYER =
partial(SqueezeExcite, ...)``, nfnet's ``stem['conv'] = conv_layer(...)``
returned as ``nn.Sequential(stem)``, senet's ``layers = [block(...)]``."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import parity_beside, run_parity, translate_beside, translate_files

HEADER = "import torch\nimport torch.nn as nn\nfrom collections import OrderedDict\nfrom functools import partial\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


REGISTRY = HEADER + textwrap.dedent("""
    class Basic(nn.Module):
        def __init__(self, dim, scale=1.0):
            super().__init__()
            self.fc = nn.Linear(dim, dim)
            self.scale = scale

        def forward(self, x):
            return self.fc(x) * self.scale


    class Gated(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.fc = nn.Linear(dim, dim)
            self.gate = nn.Linear(dim, dim)

        def forward(self, x):
            return self.fc(x) * torch.sigmoid(self.gate(x))


    Plain = Basic
    _HALF = partial(Basic, scale=0.5)
    _registry = dict(basic=Basic, gated=Gated)


    def register(name, fn):
        _registry[name] = fn


    def create_block(block, **kwargs):
        if isinstance(block, (nn.Module, partial)):
            return block(**kwargs)
        return _registry[block](**kwargs)


    def make_stem(dim, conv_layer, n=2):
        stem = OrderedDict()
        for i in range(n):
            stem[f"fc{i}"] = conv_layer(dim, dim)
        stem["act"] = nn.ReLU()
        return nn.Sequential(stem), n


    def make_layer(block, dim, n):
        layers = [block(dim)]
        for _ in range(1, n):
            layers.append(block(dim))
        return nn.Sequential(*layers)


    class Net(nn.Module):
        def __init__(self, dim=8, kinds=("basic", "gated", "half")):
            super().__init__()
            blocks = []
            for k in kinds:
                blocks += [create_block(k, dim=dim)]
            self.blocks = nn.Sequential(*blocks)
            self.alias = Plain(dim)
            self.halved = _HALF(dim)
            self.stem, _ = make_stem(dim, nn.Linear)
            self.layer = make_layer(Gated, dim, 2)

        def forward(self, x):
            return self.layer(self.stem(self.halved(self.alias(self.blocks(x)))))


    register("half", _HALF)
""")


def test_registries_aliases_and_returned_containers(tmp_path):
    """A call of a registry item, an alias or a partial of a layer class builds
    that class; a function returning such a construction builds layers (its
    callers pass rngs); layers put into a local list or OrderedDict that the
    function returns in a container get rngs."""
    result, tmod, jmod, wmod = translate_files(REGISTRY, tmp_path)
    assert result.todo_count == 0, result.code
    code = result.code
    assert "def create_block(block, *, rngs: nnx.Rngs, **kwargs)" in code
    assert "return _registry[block](**kwargs, rngs=rngs)" in code
    assert "blocks += [create_block(k, dim=dim, rngs=rngs)]" in code
    assert "self.alias = Plain(dim, rngs=rngs)" in code and "self.halved = _HALF(dim, rngs=rngs)" in code
    assert 'stem[f"fc{i}"] = conv_layer(dim, dim, rngs=rngs)' in code
    assert "layers = [block(dim, rngs=rngs)]" in code
    assert "_stateless_layers" not in code  # what an alias builds is known: Basic, a stateful class
    assert result.exports.get("Plain") == "class" and result.exports.get("_HALF") == "class"
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)], jit=True)


def test_an_alias_of_a_layer_class_is_exported(tmp_path):
    """``SqueezeExcite = SEModule`` in one file, imported by another (through the
    package's ``__init__``) and handed to ``partial`` there: built with rngs."""
    pkg = tmp_path / "aliaspkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .layers import SEModule, SqueezeExcite\n")
    (pkg / "layers.py").write_text(HEADER + textwrap.dedent("""
        class SEModule(nn.Module):
            def __init__(self, channels, gate=1.0):
                super().__init__()
                self.fc = nn.Conv2d(channels, channels, 1)
                self.gate = gate

            def forward(self, x):
                x_se = x.mean((2, 3), keepdim=True)
                return x * torch.sigmoid(self.fc(x_se) * self.gate)


        SqueezeExcite = SEModule  # alias
    """))
    (pkg / "model.py").write_text(HEADER + textwrap.dedent("""
        from aliaspkg import SqueezeExcite

        _SE_LAYER = partial(SqueezeExcite, gate=0.5)


        class Net(nn.Module):
            def __init__(self, dim=4, use_se=True):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                if use_se:
                    self.se = SqueezeExcite(dim)
                else:
                    self.se = None
                self.se2 = _SE_LAYER(dim) if use_se else nn.Identity()

            def forward(self, x):
                x = self.conv(x)
                x = self.se(x)
                return self.se2(x).flatten(1)
    """))
    translate_beside(tmp_path, "aliaspkg/model.py")
    code = (pkg / "model_nnx.py").read_text()
    assert "SqueezeExcite(dim, rngs=rngs)" in code and "_SE_LAYER(dim, rngs=rngs)" in code, code
    parity_beside(tmp_path, "aliaspkg.model", (2, 4, 6, 6))  # channels-last in, (N, C*H*W) out as torch


CHOSEN = HEADER + textwrap.dedent("""
    from typing import Type


    def conv_nd(n: int) -> Type[nn.Module]:
        return [nn.Identity, nn.Conv1d, nn.Conv2d, nn.Conv3d][n]


    class Net(nn.Module):
        def __init__(self, n=2, norm_layer=nn.BatchNorm2d, aa=None):
            super().__init__()
            self.proj = conv_nd(n)(3, 4, kernel_size=3, padding=1)
            self.pool = nn.Sequential(*filter(None, [
                nn.Conv2d(4, 4, 1), norm_layer(4), nn.AvgPool2d(2) if aa else None]))

        def forward(self, x):
            return self.pool(self.proj(x)).flatten(1)
""")


def test_a_class_chosen_by_a_function_and_layers_filtered(tmp_path):
    """``conv_nd(n)(...)``: a call of one of the classes a function hands out
    builds a layer; handed an undecided parameter, an image batch taken
    channels-last (every such conv takes channels last); ``nn.Sequential(*filter(None,
    [...]))`` holds layers (their rngs, their layouts)."""
    result, tmod, jmod, wmod = translate_files(CHOSEN, tmp_path)
    assert result.todo_count == 0, result.code
    code = result.code
    assert "self.proj = conv_nd(n)(3, 4, kernel_size=3, padding=1, rngs=rngs)" in code
    assert "norm_layer(4, rngs=rngs)," in code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 6, 6)], jit=True)


PATCH_EMBED_ANY_RANK = HEADER + textwrap.dedent("""
    import torch.nn.functional as F


    def conv_nd(n):
        return [nn.Identity, nn.Conv1d, nn.Conv2d, nn.Conv3d][n]


    class PatchEmbed(nn.Module):
        def __init__(self, dim_in, dim_out, kernel, stride):
            super().__init__()
            self.proj = conv_nd(len(kernel))(dim_in, dim_out, kernel_size=kernel, stride=stride)

        def forward(self, x, mask=None):
            if mask is not None:
                mask = F.interpolate(mask.float(), size=x.shape[2:])
                x = self.proj(x * mask.to(torch.bool))
            else:
                x = self.proj(x)
            return x.reshape(x.shape[0], x.shape[1], -1).transpose(2, 1)


    class Net(nn.Module):
        def __init__(self, img_size=(8, 8)):
            super().__init__()
            self.patch_embed = PatchEmbed(3, 16, (2,) * len(img_size), (2,) * len(img_size))
            self.norm = nn.LayerNorm(16)
            self.head = nn.Linear(16, 5)

        def forward(self, x, mask=None):
            x = self.patch_embed(x, mask=mask)
            return self.head(self.norm(x).mean(1))
""")


def test_conv_of_a_rank_chosen_at_run_time_takes_the_image_channels_last(tmp_path):
    """timm's Hiera: ``conv_nd(len(kernel))`` handed the model's image, whose
    shape an optional branch reads first (``x.shape[2:]``). The image is taken
    channels-last as the contract says (before: moved to channels-last inside,
    read as torch order, while callers handed it channels-last: the conv's
    features were the image's width); the conv's result is torch order where
    the rank is unknown, not an unknown layout a branch join took for the other
    branch's."""
    result, tmod, jmod, wmod = translate_files(PATCH_EMBED_ANY_RANK, tmp_path)
    assert "Takes x as (N, H, W, C)" in result.code
    assert "moveaxis" not in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 8, 8)])
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 8, 8)], jit=True)


FORWARD_RUNS = HEADER + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, dim=8, norm_layer=nn.LayerNorm):
            super().__init__()
            self.fc = nn.Linear(dim, dim)
            self.norms = nn.ModuleList([norm_layer(dim) for _ in range(2)])

        def forward_features(self, x):
            outs = []
            for norm in self.norms:
                x = self.fc(x)
                outs.append(norm(x))
            return torch.stack(outs).sum(0)

        def forward(self, x):
            return self.forward_features(x)
""")


def test_what_forward_runs_builds_nothing(tmp_path):
    """``outs.append(norm(x))`` in a method forward calls: a call of a layer,
    not a construction; the method takes no rngs."""
    result, tmod, jmod, wmod = translate_files(FORWARD_RUNS, tmp_path)
    assert result.todo_count == 0, result.code
    # a layer of a class known at run time, handed a plain value: called (through
    # torch_order_layer, which hands NNX's channel layers torch's channel axis)
    assert "def forward_features(self, x):" in result.code
    assert "outs.append(norm(x))" in result.code or "outs.append(torch_order_layer(norm, x))" in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)], jit=True)
