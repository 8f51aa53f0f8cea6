"""Issue 11, the largest class of the timm corpus (about 60 of 135 families
failed to build with ``missing 1 required keyword-only argument: 'rngs'``):
layer factories known by what the code does with them, classes that create
no parameters built without ``rngs``, functions taking ``rngs`` handed on as
values, and registries of layer classes translated with the layers they hold.
"""

from __future__ import annotations

import textwrap

import numpy as np

from harness import parity_beside, run_parity, translate_beside, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom typing import Type\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


FACTORIES = HEADER + textwrap.dedent("""
    def make_stages(widths, stage_fn):
        stages = []
        for w in widths:
            stages += [stage_fn(w)]
        return nn.Sequential(*stages)


    def create_attn(attn_layer, dim, **kwargs) -> nn.Module:
        if isinstance(attn_layer, str):
            attn_layer = {"lin": Block}[attn_layer]
        kwargs["norm_layer"] = None
        return attn_layer(dim, **kwargs)


    class Block(nn.Module):
        def __init__(self, dim, norm_layer=None, act_layer=nn.ReLU):
            super().__init__()
            self.fc = nn.Linear(dim, dim)
            self.norm = norm_layer(dim) if norm_layer else nn.Identity()
            self.act = act_layer()

        def forward(self, x):
            return self.act(self.norm(self.fc(x)))


    class Net(nn.Module):
        def __init__(self, cfg, dim=8, depth=2, block_fn: Type[nn.Module] = Block):
            super().__init__()
            layers = []
            for i in range(depth):
                blk = cfg["block"](dim, norm_layer=nn.LayerNorm)
                layers.append(blk)
            self.blocks = nn.Sequential(*layers)
            self.extra = nn.ModuleList([block_fn(dim) for _ in range(depth)])
            self.stages = make_stages([dim, dim], lambda d: Block(d))
            self.attn = create_attn("lin", dim)

        def forward(self, x):
            x = self.blocks(x)
            for b in self.extra:
                x = b(x)
            return self.attn(self.stages(x))


    def build():
        return Net({"block": Block})
""")


def test_factories_known_by_their_use(tmp_path):
    """A parameter, a dict item, a local list of layers, a factory handed to a
    module-level function, a factory parameter rebound in the body: each call
    whose result lands in a module slot gets rngs; a lambda handed on takes them."""
    result, tmod, jmod, wmod = translate_files(FACTORIES, tmp_path)
    assert result.todo_count == 0, result.code
    code = result.code
    assert "self.norm = norm_layer(dim, rngs=rngs) if norm_layer" in code
    assert 'cfg["block"](' in code and "def make_stages(widths, stage_fn, *, rngs: nnx.Rngs)" in code
    assert "stages += [stage_fn(w, rngs=rngs)]" in code
    assert "lambda d, *, rngs=rngs: Block(d, rngs=rngs)" in code
    assert 'kwargs["norm_layer"] = None' in code  # **kwargs is a dict, never a tensor (.at[].set)
    run_parity(result, tmod, jmod, wmod, "build", [rand(2, 8)], jit=True, layout_class="Net")


STATELESS = HEADER + textwrap.dedent("""
    class GELUTanh(nn.Module):
        def __init__(self, approximate="tanh"):
            super().__init__()
            self.approximate = approximate

        def forward(self, x):
            return F.gelu(x, approximate="tanh")


    class Scale(nn.Module):
        def forward(self, x):
            return x * 2


    ACT = {"gelu": GELUTanh(), "scale": Scale()}


    def get_act(name):
        return ACT[name]


    class Net(nn.Module):
        def __init__(self, dim=8, act="gelu"):
            super().__init__()
            self.fc = nn.Linear(dim, dim)
            self.act = get_act(act)
            self.act2 = Scale()

        def forward(self, x):
            return self.act2(self.act(self.fc(x)))
""")


def test_classes_without_parameters_need_no_rngs(tmp_path):
    """A registry instantiating activation modules at import time imports; the
    classes take rngs optionally, so callers that have them may still pass them."""
    result, tmod, jmod, wmod = translate_files(STATELESS, tmp_path)
    code = result.code
    assert 'ACT = {"gelu": GELUTanh(), "scale": Scale()}' in code
    assert "def __init__(self, approximate=\"tanh\", *, rngs: nnx.Rngs | None = None)" in code
    assert "def __init__(self, dim=8, act=\"gelu\", *, rngs: nnx.Rngs)" in code  # it builds a Linear
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)], jit=True)


INIT_FN = HEADER + textwrap.dedent("""
    from functools import partial


    def named_apply(fn, module, name=""):
        for child_name, child in module.named_children():
            named_apply(fn, child, name=child_name)
        fn(module=module, name=name)
        return module


    def _init_weights(module, name="", scale=1.0):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02 * scale)
            nn.init.zeros_(module.bias)


    class Tail(nn.Sequential):
        def forward(self, x):
            for m in self:
                x = m(x) + x
            return x


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.fc = nn.Linear(dim, dim)
            self.tail = Tail(nn.Linear(dim, dim), nn.ReLU())
            self.init_weights()

        def init_weights(self):
            named_apply(partial(_init_weights, scale=2.0), self)

        def forward(self, x):
            return self.tail(self.fc(x))
""")


def test_function_taking_rngs_handed_on_and_sequential_subclass_without_init(tmp_path):
    """``named_apply(partial(_init_weights, ...), self)``: _init_weights draws
    from rngs, the method handing it on builds (it gets rngs) and binds them; a
    Sequential subclass with only a forward is an nnx.Sequential built from its layers."""
    result, tmod, jmod, wmod = translate_files(INIT_FN, tmp_path)
    assert result.todo_count == 0, result.code
    assert "partial(_init_weights, scale=2.0, rngs=rngs)" in result.code  # one partial, ours bound
    assert "class Tail(nnx.Sequential)" in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)], jit=True)


def test_a_registry_of_layer_classes_is_followed(tmp_path):
    """``registry.py`` uses no torch but imports the package's layers: a
    translation importing it must get the translated classes, so the run
    translates it too (the README's default mode, next to the sources)."""
    pkg = tmp_path / "regpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text(HEADER + textwrap.dedent("""
        class Affine(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.w = nn.Parameter(torch.ones(dim))

            def forward(self, x):
                return x * self.w
    """))
    (pkg / "registry.py").write_text("from .layers import Affine\n\n_LAYERS = dict(affine=Affine)\n\n\n"
                                     "def get_layer(name):\n    return _LAYERS[name]\n")
    (pkg / "model.py").write_text(HEADER + textwrap.dedent("""
        from .registry import get_layer


        class Net(nn.Module):
            def __init__(self, dim=8, norm="affine"):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.norm = get_layer(norm)(dim)

            def forward(self, x):
                return self.norm(self.fc(x))
    """))
    translate_beside(tmp_path, "regpkg/model.py")
    assert (pkg / "registry_nnx.py").is_file(), p.stderr
    assert "from .layers_nnx import Affine" in (pkg / "registry_nnx.py").read_text()
    parity_beside(tmp_path, "regpkg.model", (2, 8))


LAYER_KWARGS = HEADER + textwrap.dedent("""
    class LayerNorm(nn.LayerNorm):
        def __init__(self, num_channels, eps=1e-6, affine=True, **kwargs):
            super().__init__(num_channels, eps=eps, elementwise_affine=affine, **kwargs)

        def forward(self, x):
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


    class Net(nn.Module):
        def __init__(self, dim=8, device=None, dtype=None):
            super().__init__()
            dd = {"device": device, "dtype": dtype}
            self.fc = nn.Linear(dim, dim, **dd)
            self.norm = LayerNorm(dim, **dd)

        def forward(self, x):
            return self.norm(self.fc(x))


    class NoBias(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.norm = LayerNorm(dim, bias=False)

        def forward(self, x):
            return self.norm(x)
""")


def test_layer_subclass_handing_kwargs_to_its_base(tmp_path):
    """timm's ``LayerNorm(nn.LayerNorm)`` hands ``**kwargs`` (device, dtype) to
    super().__init__: bound through the row; the splat may carry torch's factory
    arguments and the row's own, anything else is refused when the layer is built."""
    result, tmod, jmod, wmod = translate_files(LAYER_KWARGS, tmp_path)
    assert "class LayerNorm(nnx.LayerNorm)" in result.code, result.code
    assert "factory_kwargs_only(kwargs" in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)], jit=True)
    import pytest
    from flax import nnx

    # the row's own arguments come through the splat too (efficientnet_pytorch's
    # Conv2dStaticSamePadding(..., bias=False)); anything else is refused
    with pytest.raises(TypeError, match="foo"):
        jmod.LayerNorm(8, foo=1, rngs=nnx.Rngs(0))
    run_parity(result, tmod, jmod, wmod, "NoBias", [rand(2, 8)], jit=True)


def test_star_imports_of_the_package_bind_what_the_module_exports(tmp_path):
    """``from .activations import *`` hands ``nn`` and the module's classes on
    (timm's create_act.py): the rules see ``nn.SiLU`` as torch's, and the run
    follows the module imported by star."""
    pkg = tmp_path / "starpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "activations.py").write_text(HEADER + textwrap.dedent("""
        class Swish(nn.Module):
            def forward(self, x):
                return x * torch.sigmoid(x)
    """))
    (pkg / "create_act.py").write_text(textwrap.dedent("""
        from .activations import *

        _ACT = dict(silu=nn.SiLU, swish=Swish)


        def get_act_layer(name):
            return _ACT[name]
    """))
    (pkg / "model.py").write_text(HEADER + textwrap.dedent("""
        from .create_act import get_act_layer


        class Net(nn.Module):
            def __init__(self, dim=8, act="silu"):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.act = get_act_layer(act)()
                self.act2 = get_act_layer("swish")()

            def forward(self, x):
                return self.act2(self.act(self.fc(x)))
    """))
    translate_beside(tmp_path, "starpkg/model.py")
    made = (pkg / "create_act_nnx.py").read_text()
    assert "nn.SiLU" not in made and "from .activations_nnx import *" in made, made
    parity_beside(tmp_path, "starpkg.model", (2, 8))


def test_a_name_shadowing_its_submodule_is_the_name(tmp_path):
    """``from .create_attn import create_attn`` in a package's __init__ binds the
    function, not the submodule: ``from pkg import create_attn`` names it."""
    from torch2nnx.follow import Reexports

    pkg = tmp_path / "shadow"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .create_attn import create_attn\nfrom . import helpers\n")
    (pkg / "create_attn.py").write_text("def create_attn(x):\n    return x\n")
    (pkg / "helpers.py").write_text("X = 1\n")
    r = Reexports(tmp_path)
    assert r.resolve("shadow.create_attn") == "shadow.create_attn.create_attn"
    assert r.resolve("shadow.helpers") == "shadow.helpers"  # a submodule stays one


INDEX_TABLE = HEADER + textwrap.dedent("""
    def relative_index(n: int):
        coords = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"))
        rel = coords.flatten(1)[:, :, None] - coords.flatten(1)[:, None, :]
        rel = rel.permute(1, 2, 0).contiguous()
        rel[:, :, 0] += n - 1
        rel[:, :, 1] += n - 1
        rel[:, :, 0] *= 2 * n - 1
        index = torch.zeros((n * n + 1,) * 2, dtype=rel.dtype)
        index[1:, 1:] = rel.sum(-1)
        index[0, 0:] = 7
        return index


    class Net(nn.Module):
        def __init__(self, n=3):
            super().__init__()
            self.register_buffer("index", relative_index(n), persistent=False)
            self.table = nn.Parameter(torch.zeros((2 * n - 1) ** 2 + 8, 2))

        def forward(self, x):
            return x + self.table[self.index.view(-1)].sum()
""")


def test_item_updates_on_index_tables(tmp_path):
    """beit's relative position index: ``rel[:, :, 0] += n - 1`` and
    ``index[1:, 1:] = rel.sum(-1)`` on tensors built in a module-level function:
    functional updates, and a tensor method on a local is no layer factory."""
    result, tmod, jmod, wmod = translate_files(INDEX_TABLE, tmp_path)
    assert "rngs" not in result.code.split("def relative_index")[1].split("\n")[0]
    assert ".add(n - 1)" in result.code and ".multiply(2 * n - 1)" in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 4)], jit=True)


SHADOW = HEADER + textwrap.dedent("""
    class Pool(nn.Module):
        def __init__(self, flatten: bool = False):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten(1) if flatten else nn.Identity()

        def forward(self, x):
            return self.flatten(self.pool(x))
""")


def test_a_helper_named_like_a_source_name(tmp_path):
    """timm's SelectAdaptivePool2d: a ``flatten`` parameter beside ``nn.Flatten(1)``,
    whose translation is the ``flatten`` helper: the code reaches the helper under
    a name of its own instead of the parameter."""
    result, tmod, jmod, wmod = translate_files(SHADOW, tmp_path)
    assert "t2n_flatten = flatten" in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "Pool", [rand(2, 3, 4, 4)], kwargs={"flatten": True}, jit=True)


DICT_PARAM = HEADER + textwrap.dedent("""
    from typing import Any, Dict


    def update_kwargs(block_kwargs: Dict[str, Any], width: int):
        block_kwargs["width"] = width
        return block_kwargs


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            kw = update_kwargs({}, dim)
            self.fc = nn.Linear(kw["width"], dim)

        def forward(self, x):
            return self.fc(x)
""")


def test_a_parameter_annotated_as_a_dict_is_no_tensor(tmp_path):
    """timm's update_block_kwargs(block_kwargs: Dict[str, Any], ...): an item
    assignment stays a dict's, never ``.at[...].set``."""
    result, tmod, jmod, wmod = translate_files(DICT_PARAM, tmp_path)
    assert 'block_kwargs["width"] = width' in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)])


MODULE_ANNOTATED_AS_CLASS = HEADER + textwrap.dedent("""
    from typing import Optional


    class Embed(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.proj = nn.Conv2d(cin, cout, 3, stride=2, padding=1)

        def forward(self, x):
            return self.proj(x)


    class Enc(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dw = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

        def forward(self, x):
            return x + self.dw(x)


    class Stage(nn.Module):
        def __init__(self, dim, downsample: Optional[Type[nn.Module]] = None):
            super().__init__()
            self.downsample = downsample if downsample is not None else nn.Identity()
            self.blocks = nn.Sequential(Enc(dim), Enc(dim))

        def forward(self, x):
            x = self.downsample(x)
            x = self.blocks(x)
            return x


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.stem = nn.Conv2d(3, dim, 3, padding=1)
            self.stages = nn.Sequential(Stage(dim), Stage(2 * dim, downsample=Embed(dim, 2 * dim)))

        def forward(self, x):
            return self.stages(self.stem(x))
""")


def test_a_module_annotated_as_a_layer_class_applied_to_a_tensor(tmp_path):
    """timm's SwiftFormer Stage: ``downsample: Optional[Type[nn.Module]]`` is handed a
    built module, and forward applies it to ``x``. It is a module of unknown class
    applied to a tensor (channels-last in, as the contract has it), not a factory
    called without rngs (a T2N004 and an unknown value the next blocks transposed
    as if in torch order: the depthwise conv got the width as channels)."""
    result, tmod, jmod, wmod = translate_files(MODULE_ANNOTATED_AS_CLASS, tmp_path)
    assert result.todo_count == 0, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 8, 10)])
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 8, 10)], jit=True)
