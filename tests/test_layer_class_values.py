"""torch layer classes handed around as values take torch's keywords and stay
classes: ``partial(nn.LayerNorm, eps=1e-6)`` called again with ``eps=`` (timm's
edgenext), ``nn.Identity`` called with ``inplace=True`` (ghostnet), a partial
unbound by ``.func`` / ``.keywords`` (timm's get_norm_act_layer), and
``issubclass(act_layer, X)`` on stateless layer classes (metaformer, resnet's
``issubclass(aa_layer, nn.AvgPool2d)`` and a tuple of classes)."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom functools import partial\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


KWARGS = HEADER + textwrap.dedent("""
    class StarAct(nn.Module):
        def __init__(self, scale=2.0):
            super().__init__()
            self.scale = scale

        def forward(self, x):
            return self.scale * F.relu(x) ** 2


    def unbind(norm_layer):
        # a partial unbound, its keywords rebound later (timm's get_norm_act_layer)
        kwargs = {}
        if isinstance(norm_layer, partial):
            kwargs.update(norm_layer.keywords)
            norm_layer = norm_layer.func
        assert isinstance(norm_layer, type), norm_layer
        return partial(norm_layer, **kwargs) if kwargs else norm_layer


    class Block(nn.Module):
        def __init__(self, dim, norm_layer=partial(nn.LayerNorm, eps=1e-1), act_layer=nn.GELU,
                     act2_layer=nn.Identity, pool_layer=nn.Tanh, id_layer=nn.Identity):
            super().__init__()
            self.fc = nn.Linear(dim, dim)
            self.norm = norm_layer(dim, eps=0.5)  # a keyword the partial binds, passed again
            self.norm2 = unbind(norm_layer)(dim)
            self.norm3 = unbind(partial(nn.BatchNorm1d, momentum=0.3, eps=0.2))(dim)
            self.act = act_layer() if issubclass(act_layer, StarAct) else act_layer(approximate="tanh")
            self.act2 = id_layer(inplace=True)  # nn.Identity takes anything
            self.act3 = act2_layer(2.0) if issubclass(act2_layer, StarAct) else act2_layer()
            self.pool = pool_layer() if issubclass(pool_layer, (nn.Tanh, nn.Sigmoid)) else nn.Identity()

        def forward(self, x):
            x = self.act(self.norm(self.fc(x)))
            x = self.act3(self.act2(self.norm2(x)))
            x = self.norm3(x)
            return self.pool(x)


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.a = Block(dim)
            self.b = Block(dim, act_layer=StarAct, act2_layer=StarAct, pool_layer=nn.ReLU)

        def forward(self, x):
            return self.a(x) + self.b(x)
""")


def test_layer_class_values_take_torch_keywords_and_stay_classes(tmp_path):
    result, tmod, jmod, wmod = translate_files(KWARGS, tmp_path)
    assert result.todo_count == 0, result.code
    code = result.code
    assert "functools.partial(" in code and "eps=1e-1" in code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(4, 8)], jit=True)


METHOD_OF_ITEM = HEADER + textwrap.dedent("""
    class Block(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.fc = nn.Linear(cin, cout)
            self.out_features = cout

        def feat_channels(self, exp=False):
            return self.out_features * (2 if exp else 1)

        def forward(self, x):
            return F.relu(self.fc(x))


    def make_blocks(widths, cin):
        blocks, feat_chs = [], []
        for w in widths:
            blocks.append(Block(cin, w))
            feat_chs += [blocks[-1].feat_channels()]  # a method of a layer, not a layer factory
            cin = feat_chs[-1]
        return nn.Sequential(*blocks), feat_chs


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.blocks, chs = make_blocks([6, 4], dim)
            self.head = nn.Linear(chs[-1], 3)

        def forward(self, x):
            return self.head(self.blocks(x))
""")


def test_method_of_a_layer_item_is_no_factory(tmp_path):
    """``feat_chs += [blocks[-1].feat_channels()]`` in a layer-building function:
    the callee is a method the file's classes define, so it gets no ``rngs``."""
    result, tmod, jmod, wmod = translate_files(METHOD_OF_ITEM, tmp_path)
    assert result.todo_count == 0, result.code
    assert "blocks[-1].feat_channels()\n" in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(4, 8)], jit=True)


GLOBAL_PARTIAL = HEADER + textwrap.dedent("""
    class Gate(nn.Module):
        def __init__(self, dim, scale=1.0, bias=True):
            super().__init__()
            self.fc = nn.Linear(dim, dim, bias=bias)
            self.scale = scale

        def forward(self, x):
            return x * torch.sigmoid(self.fc(x)) * self.scale


    _GATE = partial(Gate, scale=0.5)
    _NORM = partial(nn.LayerNorm, eps=1e-2)
    POOL = nn.Tanh


    class Net(nn.Module):
        def __init__(self, dim=8, use_gate=True):
            super().__init__()
            self.gate = _GATE(dim, bias=False) if use_gate else None
            self.norm = _NORM(dim)

        def forward(self, x):
            return self.norm(self.gate(x))
""")


def test_module_level_partials_of_layer_classes_build_layers(tmp_path):
    """``_SE_LAYER = partial(SqueezeExcite, ...)`` at module level, called in a
    constructor: it builds a layer (gets ``rngs``); torch layer classes as
    values are one class per torch name, across copies of the helpers (every
    translated file carries its own)."""
    from harness import load_module

    result, tmod, jmod, wmod = translate_files(GLOBAL_PARTIAL, tmp_path)
    assert result.todo_count == 0, result.code
    assert "_GATE(dim, bias=False, rngs=rngs)" in result.code
    assert load_module(tmp_path / "model_nnx.py").POOL is jmod.POOL
    run_parity(result, tmod, jmod, wmod, "Net", [rand(4, 8)], jit=True)


def test_rngs_kept_by_a_layer_are_no_torch_layer_left(tmp_path):
    """A translated layer keeping ``self.rngs`` (it draws random numbers): the
    weights loader's report of torch layers left in place does not name the
    ``nnx.Rngs`` (every attribute of which is a callable, ``state_dict`` too)."""
    import pytest
    import torch

    src = HEADER + textwrap.dedent("""
        class Net(nn.Module):
            def __init__(self, dim=8):
                super().__init__()
                self.fc = nn.Linear(dim, dim)

            def forward(self, x):
                q = self.fc(x)[:, None]
                return F.scaled_dot_product_attention(q, q, q, dropout_p=0.1 if self.training else 0.0)
    """)
    result, tmod, jmod, wmod = translate_files(src, tmp_path)
    from flax import nnx

    model = jmod.Net(rngs=nnx.Rngs(0))
    assert isinstance(getattr(model, "rngs", None), nnx.Rngs), result.code
    assert result.todo_count == 0, result.code
    sd = tmod.Net().state_dict()
    sd["extra"] = torch.zeros(1)
    with pytest.raises(ValueError) as e:
        wmod.load_torch_state_dict(model, sd)
    assert "unexpected keys: extra" in str(e.value) and "left untranslated" not in str(e.value)


LEARNABLE_FLAG = HEADER + textwrap.dedent("""
    class StarAct(nn.Module):
        def __init__(self, scale_value=1.0, scale_learnable=True, bias_learnable=True):
            super().__init__()
            self.scale = nn.Parameter(scale_value * torch.ones(1), requires_grad=scale_learnable)
            self.bias = nn.Parameter(torch.zeros(1), requires_grad=bias_learnable)

        def forward(self, x):
            return self.scale * F.relu(x) ** 2 + self.bias


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.fc = nn.Linear(dim, dim)
            self.a = StarAct(0.5)
            self.b = StarAct(2.0, scale_learnable=False)

        def forward(self, x):
            return self.b(self.a(self.fc(x)))
""")


def test_parameter_with_requires_grad_known_at_run_time(tmp_path):
    """``nn.Parameter(t, requires_grad=flag)``: an nnx.Param or a FrozenParam
    decided at run time; both are ported (perturbed) by the weights loader."""
    from flax import nnx

    result, tmod, jmod, wmod = translate_files(LEARNABLE_FLAG, tmp_path)
    assert result.todo_count == 0, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(4, 8)], jit=True)
    m = jmod.Net(rngs=nnx.Rngs(0))
    assert isinstance(m.a.scale, nnx.Param) and not isinstance(m.b.scale, nnx.Param)


RANKED = HEADER + textwrap.dedent("""
    import math


    def _init_weights(module):
        if isinstance(module, nn.Conv2d):
            fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
            nn.init.normal_(module.weight, 0, math.sqrt(2.0 / fan_out))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.gate = nn.Conv1d(1, 1, 3, padding=1, bias=False)  # ECA's
            self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)
            self.apply(_init_weights)
            n2d = sum(isinstance(m, nn.Conv2d) for m in self.modules())
            n1d = sum(isinstance(m, (nn.Conv1d, nn.Linear)) for m in self.modules())
            nt = sum(isinstance(m, nn.ConvTranspose2d) for m in self.modules())
            self.register_buffer("counts", torch.tensor([n2d, n1d, nt], dtype=torch.float32), persistent=False)

        def forward(self, x):
            x = self.conv(x)
            y = x.mean((2, 3))
            y = self.gate(y.unsqueeze(1)).squeeze(1)
            x = self.up(x * y.sigmoid()[:, :, None, None])
            return x.mean((1, 2, 3))[:, None] + self.counts
""")


def test_isinstance_of_a_rank_specific_layer_class_checks_the_rank(tmp_path):
    """``isinstance(m, nn.Conv2d)``: NNX has one Conv for every rank; the check
    also reads the kernel's rank, so a Conv1d (timm's ECA) is no Conv2d and an
    init function reading ``kernel_size[1]`` never meets it; counts as torch's.
    ``y[:, :, None, None]`` of a plain (N, C) tensor is rank 4: next to the
    channels-last map it is moved to channels-last, not expanded again."""
    result, tmod, jmod, wmod = translate_files(RANKED, tmp_path)
    assert result.todo_count == 0, result.code
    assert "ranked_layer(nnx.Conv, 2)" in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 6, 6)], jit=True)
