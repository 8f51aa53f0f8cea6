"""``isinstance(v, nn.Module)`` where ``v`` may hold a stateless torch layer NNX
keeps as a function (``nn.ReLU()`` -> ``jax.nn.relu``): true, as torch is, so
pytorchcv's ``assert isinstance(self.activ, nn.Module)`` holds; false for a
layer factory (``lambda: nn.ReLU()``), which ``inspect.isfunction`` tells from
a layer (``create_activation_layer`` calls factories, keeps modules)."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import load_module, run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

SOURCE = HEADER + textwrap.dedent("""
    from inspect import isfunction


    class HSwish(nn.Module):
        def __init__(self, inplace=False):
            super().__init__()
            self.inplace = inplace

        def forward(self, x):
            return x * F.relu6(x + 3.0, inplace=self.inplace) / 6.0


    def lambda_relu(inplace=True):
        return lambda: nn.ReLU(inplace=inplace)


    def create_activation_layer(activation):
        assert activation is not None
        if isfunction(activation):
            return activation()
        elif isinstance(activation, str):
            if activation == "relu":
                return nn.ReLU(inplace=True)
            elif activation == "sigmoid":
                return nn.Sigmoid()
            elif activation == "hswish":
                return HSwish(inplace=True)
            raise NotImplementedError()
        else:
            assert isinstance(activation, nn.Module)
            return activation


    class ConvBlock(nn.Module):
        def __init__(self, in_channels, out_channels, activation=lambda_relu()):
            super().__init__()
            self.activate = activation is not None
            self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
            if self.activate:
                self.activ = create_activation_layer(activation)
                if self.activ is None:
                    self.activate = False
                else:
                    assert isinstance(self.activ, nn.Module)
                    assert isinstance(self.activ, (nn.Module, str))

        def forward(self, x):
            x = self.conv(x)
            if self.activate:
                x = self.activ(x)
            return x


    class Net(nn.Module):
        def __init__(self, channels=3):
            super().__init__()
            self.a = ConvBlock(channels, 8)                        # a factory: lambda: nn.ReLU()
            self.b = ConvBlock(8, 8, activation=nn.Sigmoid())     # a stateless layer instance
            self.c = ConvBlock(8, 8, activation="relu")           # by name: nn.ReLU built inside
            self.d = ConvBlock(8, 8, activation="sigmoid")
            self.e = ConvBlock(8, 8, activation=HSwish())         # a module of the source
            self.f = ConvBlock(8, 8, activation=lambda: HSwish())
            self.g = ConvBlock(8, 4, activation=None)
            self.h = ConvBlock(4, 4, activation=nn.ReLU6())

        def forward(self, x):
            return self.h(self.g(self.f(self.e(self.d(self.c(self.b(self.a(x))))))))
""")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_stateless_layers_are_modules(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert result.todo_count == 0, result.code
    x = rand(2, 3, 6, 6)
    run_parity(result, tmod, jmod, wmod, "Net", [x])
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=True)


CHECKS = HEADER + textwrap.dedent("""
    import inspect
    from inspect import isfunction


    class HSwish(nn.Module):
        def forward(self, x):
            return x * F.relu6(x + 3.0) / 6.0


    def factory():
        return nn.ReLU()


    def checks():
        values = {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "relu6": nn.ReLU6(), "gelu": nn.GELU(),
                  "leaky": nn.LeakyReLU(0.2), "tanh": nn.Tanh(), "hswish": HSwish(), "conv": nn.Conv2d(2, 2, 1),
                  "factory": factory, "lambda": lambda: nn.ReLU(), "string": "relu", "none": None,
                  "maxpool": nn.MaxPool2d(2)}
        out = {}
        for k, v in values.items():
            out[k] = (isinstance(v, nn.Module), isfunction(v), inspect.isfunction(v),
                      isinstance(v, (nn.Module, str)))
        out["classes"] = (issubclass(HSwish, nn.Module), issubclass(nn.ReLU, nn.Module),
                          issubclass(nn.Conv2d, nn.Module))
        return out
""")


def test_module_checks_agree_with_torch(tmp_path):
    """Every value: isinstance against nn.Module (alone and in a tuple),
    isfunction, and issubclass of layer classes, as torch answers."""
    result, tmod, jmod, _ = translate_files(CHECKS, tmp_path)
    assert "TorchModule" in result.code and "torch_isfunction(v)" in result.code, result.code
    from flax import nnx

    expected, got = tmod.checks(), jmod.checks(rngs=nnx.Rngs(0))
    assert got == expected, {k: (expected[k], got[k]) for k in expected if expected[k] != got[k]}


ADD_BY_KEYWORD = HEADER + textwrap.dedent("""
    class Mix(nn.Module):
        def __init__(self, channels=4):
            super().__init__()
            self.add_module(name="conv", module=nn.Conv2d(channels, channels, 3, padding=1))
            self.register_module(module=nn.ReLU(), name="act")

        def forward(self, x):
            return self.act(self.conv(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential()
            self.features.add_module(name="mix1", module=Mix())
            self.features.add_module(name="mix2", module=Mix())

        def forward(self, x):
            return self.features(x)
""")


def test_add_module_by_keyword(tmp_path):
    """pytorchcv's MixConv: ``self.add_module(name=..., module=nn.Conv2d(...))``,
    torch's parameter names as keywords, read like positional ones; and on
    another receiver they reach module_add_module's own parameters."""
    result, tmod, jmod, wmod = translate_files(ADD_BY_KEYWORD, tmp_path)
    assert result.todo_count == 0, result.code
    assert 'setattr(self, "act", jax.nn.relu)' in result.code, result.code
    x = rand(2, 4, 5, 5)
    for cls in ("Mix", "Net"):
        run_parity(result, tmod, jmod, wmod, cls, [x])
        run_parity(result, tmod, jmod, wmod, cls, [x], jit=True)
