"""Methods drawing random numbers called where no ``rngs`` is in scope
(rngs_methods.py): timm re-initialises weights through ``m.init_weights()``
on modules of unknown class (visited by ``named_apply`` / ``self.apply``), and
hands init functions of other files to ``named_apply``. Init randomness is
overwritten by the ported weights; what these tests check is that the models
build at all (they raised ``missing 'rngs'`` before) and stay at parity.
"""

from __future__ import annotations

import textwrap

import numpy as np

from harness import parity_beside, run_parity, translate_beside, translate_files

HEADER = "import torch\nimport torch.nn as nn\nfrom functools import partial\n\n\n"

NAMED_APPLY = textwrap.dedent("""
    def named_apply(fn, module, name=""):
        for child_name, child in module.named_children():
            named_apply(fn, child, name=child_name)
        fn(module=module, name=name)
        return module
""")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


BY_NAME = HEADER + NAMED_APPLY + textwrap.dedent("""

    class Glu(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.fc = nn.Linear(dim, 2 * dim)

        def init_weights(self):
            nn.init.normal_(self.fc.weight, std=1e-6)  # draws: takes rngs

        def forward(self, x):
            a, b = self.fc(x).chunk(2, dim=-1)
            return a * torch.sigmoid(b)


    class Scale(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.gamma = nn.Parameter(torch.ones(dim))

        def init_weights(self):
            nn.init.ones_(self.gamma)  # draws nothing, but shares the name

        def forward(self, x):
            return x * self.gamma


    def _init_weights(module, name="", head_bias=0.0):
        if isinstance(module, nn.Linear) and name.startswith("head"):
            nn.init.constant_(module.bias, head_bias)
        elif hasattr(module, "init_weights"):
            module.init_weights()


    class Net(nn.Module):
        def __init__(self, dim=8, scheme="normal"):
            super().__init__()
            self.glu = Glu(dim)
            self.scale = Scale(dim)
            self.head = nn.Linear(dim, 3)
            named_apply(partial(_init_weights, head_bias=0.5), self)
            named_apply(partial(self._init_weights, scheme=scheme), self)
            self.apply(self._reset)

        def _init_weights(self, module, name, scheme=""):
            if hasattr(module, "init_weights"):
                try:
                    module.init_weights(scheme=scheme)
                except TypeError:
                    module.init_weights()

        def _reset(self, m):
            if isinstance(m, Glu):
                m.init_weights()

        def forward(self, x):
            return self.head(self.scale(self.glu(x)))
""")


def test_methods_taking_rngs_known_by_name(tmp_path):
    """``module.init_weights()`` on a module of unknown class: a method of
    that name takes rngs (Glu draws), so the call hands ours on, the functions
    making it take rngs (handed on as values, ours are bound), and every method
    of that name takes rngs (Scale's draws nothing, but is called the same way)."""
    result, tmod, jmod, wmod = translate_files(BY_NAME, tmp_path)
    assert result.todo_count == 0, result.code
    code = result.code
    # the receiver's class is unknown: its bound method's signature decides at run time
    assert "call_with_rngs(module.init_weights, rngs=rngs)" in code, code
    assert "call_with_rngs(module.init_weights, scheme=scheme, rngs=rngs)" in code, code
    assert "m.init_weights(rngs=rngs)" in code, code  # isinstance(m, Glu): Glu's takes rngs
    assert "partial(_init_weights, head_bias=0.5, rngs=rngs)" in code, code
    assert "partial(self._init_weights, scheme=scheme, rngs=rngs)" in code, code
    assert "init_weights" in result.rngs_methods
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)], jit=True)


def test_init_functions_and_methods_of_other_files(tmp_path):
    """An init function of another file handed to ``named_apply`` (it draws:
    ours are bound), a local init function handed on from a method that has no
    ``rngs`` (the module's own), and ``m.init_weights()`` of a class of another
    file (the name is known from the file it imports)."""
    pkg = tmp_path / "ipkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text(HEADER + NAMED_APPLY + textwrap.dedent("""

        def trunc_normal_(tensor, std=1.0):
            with torch.no_grad():
                return tensor.normal_(0.0, std)


        def init_weight_vit(module, name=""):
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
            elif hasattr(module, "init_weights"):
                module.init_weights()


        class Mlp(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc1 = nn.Linear(dim, dim)
                self.fc2 = nn.Linear(dim, dim)

            def init_weights(self):
                nn.init.normal_(self.fc1.weight, std=1e-6)

            def forward(self, x):
                return self.fc2(torch.relu(self.fc1(x)))
    """))
    (pkg / "model.py").write_text(HEADER + textwrap.dedent("""
        from .layers import Mlp, init_weight_vit, named_apply, trunc_normal_


        def _init_local(module, name="", head_bias=0.0):
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)


        def _by_name(module, name=""):
            if isinstance(module, Mlp):
                return
            if hasattr(module, "init_weights"):
                module.init_weights()


        class Wrap(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.mlp = Mlp(dim)

            def forward(self, x):
                return self.mlp(x)


        class Net(nn.Module):
            def __init__(self, dim=8, weight_init="vit"):
                super().__init__()
                self.pos = nn.Parameter(torch.zeros(1, dim))
                self.mlp = Wrap(dim)
                self.head = nn.Linear(dim, 3)
                init_fn = init_weight_vit if weight_init == "vit" else None
                named_apply(init_fn, self)
                self.reset_weights()
                self.mlp.mlp.init_weights()
                named_apply(_by_name, self.mlp)

            def reset_weights(self, mode=""):
                trunc_normal_(self.pos, std=0.02)
                named_apply(partial(_init_local, head_bias=0.0), self)

            def forward(self, x):
                return self.head(self.mlp(x + self.pos))
    """))
    translate_beside(tmp_path, "ipkg/model.py")
    out = (pkg / "model_nnx.py").read_text()
    assert "functools.partial(init_weight_vit, rngs=rngs)" in out, out
    assert "partial(_init_local, head_bias=0.0, rngs=self.rngs)" in out, out  # no rngs in reset_weights
    assert "call_with_rngs(module.init_weights, rngs=rngs)" in out, out  # Mlp's, in layers.py
    parity_beside(tmp_path, "ipkg.model", (2, 8))


def test_method_by_name_defined_differently_in_two_files(tmp_path):
    """``self.block.reset_parameters()`` on a block built by a registry of
    another file: one class of the run (``normal.py``) draws in its
    ``reset_parameters`` (takes rngs), another (``const.py``, which sees no
    file defining it with rngs) only fills constants (takes none). The call
    hands rngs only to a method taking them (the bound method's signature
    decides at run time); before, the second raised ``unexpected keyword
    argument 'rngs'``. Both variants build and stay at parity."""
    pkg = tmp_path / "rpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "normal.py").write_text(HEADER + textwrap.dedent("""
        class NormalInit(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.reset_parameters()

            def reset_parameters(self):
                nn.init.normal_(self.fc.weight, std=0.02)

            def forward(self, x):
                return self.fc(x)
    """))
    (pkg / "const.py").write_text(HEADER + textwrap.dedent("""
        class ConstInit(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.scale = nn.Parameter(torch.ones(dim))
                self.reset_parameters()

            def reset_parameters(self):
                nn.init.zeros_(self.fc.bias)
                nn.init.constant_(self.scale, 0.5)

            def forward(self, x):
                return torch.tanh(self.fc(x)) * self.scale
    """))
    (pkg / "create.py").write_text(HEADER + textwrap.dedent("""
        from .const import ConstInit
        from .normal import NormalInit

        _blocks = dict(normal=NormalInit, const=ConstInit)


        def get_block(kind):
            return _blocks[kind]
    """))
    (pkg / "model.py").write_text(HEADER + textwrap.dedent("""
        from .create import get_block


        class Net(nn.Module):
            def __init__(self, kind="const", dim=8):
                super().__init__()
                self.block = get_block(kind)(dim)
                self.head = nn.Linear(dim, 3)
                if hasattr(self.block, "reset_parameters"):
                    self.block.reset_parameters()

            def forward(self, x):
                return self.head(self.block(x))
    """))
    translate_beside(tmp_path, "rpkg/model.py")
    out = (pkg / "model_nnx.py").read_text()
    # reset_parameters by name: the block's own (taking rngs) or torch's for NNX's layers
    assert "call_reset_parameters(self.block, rngs=rngs)" in out, out
    assert "def reset_parameters(self):" in (pkg / "const_nnx.py").read_text()
    assert "def reset_parameters(self, *, rngs" in (pkg / "normal_nnx.py").read_text()
    parity_beside(tmp_path, "rpkg.model", (2, 8), args="'const'")
    parity_beside(tmp_path, "rpkg.model", (2, 8), args="'normal'")


RESET_LOOP = HEADER + textwrap.dedent("""
    class Mixer(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.A = nn.Parameter(torch.empty(dim))
            self.reset_parameters()

        def reset_parameters(self):
            nn.init.uniform_(self.A, 1.0, 2.0)  # draws: takes rngs

        def forward(self, x):
            return x * self.A


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.conv = nn.Conv2d(3, dim, 3, padding=1)
            self.bn = nn.BatchNorm2d(dim)
            self.mix = Mixer(dim)
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, 3)
            for m in self.modules():
                if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                    nn.init.normal_(m.weight)
            self.apply(self._init_weights)

        def _init_weights(self, m):
            if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                m.reset_parameters()
            elif hasattr(m, "reset_parameters") and not isinstance(m, (nn.Conv2d, nn.Linear)):
                m.reset_parameters()

        def forward(self, x):
            x = self.mix(self.bn(self.conv(x)).permute(0, 2, 3, 1))
            return self.head(self.norm(x.mean((1, 2))))
""")


def test_reset_parameters_on_layers_nnx_provides(tmp_path):
    """``m.reset_parameters()`` in a loop over modules (timm's EfficientViM):
    on a layer NNX provides (``nnx.BatchNorm``, ``nnx.LayerNorm``) there is no
    such method, so torch's initialisation of that layer is drawn again; a
    translated class's own method is called with ours."""
    result, tmod, jmod, wmod = translate_files(RESET_LOOP, tmp_path)
    assert result.todo_count == 0, result.code
    assert "call_reset_parameters(m, rngs=rngs)" in result.code, result.code
    from flax import nnx

    net = jmod.Net(rngs=nnx.Rngs(0))
    # the norms' scales were drawn from a normal, then reset to torch's ones
    np.testing.assert_array_equal(np.asarray(net.norm.scale.get_value()), np.ones(8, np.float32))
    np.testing.assert_array_equal(np.asarray(net.bn.scale.get_value()), np.ones(8, np.float32))
    a = np.asarray(net.mix.A.get_value())
    assert (a >= 1.0).all() and (a <= 2.0).all() and a.std() > 0, a
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 6, 6)])
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 6, 6)], jit=True)


RESET_IN_INIT = HEADER + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, 3)
            nn.init.normal_(self.norm.weight)
            for m in self.modules():
                if isinstance(m, nn.LayerNorm):
                    m.reset_parameters()

        def forward(self, x):
            return self.head(self.norm(x))
""")


def test_reset_parameters_where_no_class_of_the_run_defines_it(tmp_path):
    """``m.reset_parameters()`` in ``__init__`` with no translated class defining
    the method: our rngs are at hand, so the layer NNX provides is reset as
    torch resets it (before: left as is, ``'LayerNorm' object has no attribute``)."""
    result, tmod, jmod, wmod = translate_files(RESET_IN_INIT, tmp_path)
    assert result.todo_count == 0, result.code
    assert "call_reset_parameters(m, rngs=rngs)" in result.code, result.code
    from flax import nnx

    net = jmod.Net(rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(np.asarray(net.norm.scale.get_value()), np.ones(8, np.float32))
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)])
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)], jit=True)
