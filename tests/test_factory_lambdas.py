"""Layer factories written as lambdas and handed on as values: pytorchcv's
``Block(c, activation=(lambda: nn.ELU(inplace=True)))``. ``create_activation_layer``
calls whatever factory it is handed with ``rngs=rngs`` (some factories, like
``lambda_prelu``'s, build layers with parameters), so every lambda building a
layer takes a keyword-only ``rngs`` wherever it is written (a call argument, an
assignment, a list or dict element, a conditional expression, module level):
``rngs=None`` when it builds only parameter-free layers, its own (or, inside a
function that has them, the enclosing ``rngs`` by default) when it builds a
layer with parameters."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

SOURCE = HEADER + textwrap.dedent("""
    from inspect import isfunction
    from typing import Callable


    def lambda_relu(inplace=True):
        return lambda: nn.ReLU(inplace=inplace)


    def lambda_prelu(num_parameters=1):
        return lambda: nn.PReLU(num_parameters=num_parameters)


    class Gate(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 1)

        def forward(self, x):
            return x * torch.sigmoid(self.conv(x))


    def lambda_gate(channels):
        return lambda: Gate(channels)


    def create_activation_layer(activation: Callable[..., nn.Module | None] | nn.Module | str) -> nn.Module | None:
        assert activation is not None
        if isfunction(activation):
            return activation()
        elif isinstance(activation, str):
            return nn.ReLU(inplace=True)
        assert isinstance(activation, nn.Module)
        return activation


    MODULE_ACT = lambda: nn.Hardswish()
    MODULE_NORM = lambda c: nn.BatchNorm2d(c, eps=1e-3)


    class Block(nn.Module):
        def __init__(self, in_channels, out_channels, activation=lambda_relu(), norm=None):
            super().__init__()
            self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
            self.norm = norm(out_channels) if norm is not None else nn.Identity()
            self.activ = create_activation_layer(activation)

        def forward(self, x):
            return self.activ(self.norm(self.conv(x)))


    class Net(nn.Module):
        def __init__(self, channels=3, slope=0.2):
            super().__init__()
            self.a = Block(channels, 8, activation=(lambda: nn.ELU(inplace=True)))   # a call argument
            self.b = Block(8, 8, activation=(lambda: nn.Sigmoid()))
            act = (lambda: nn.LeakyReLU(negative_slope=slope, inplace=True)) if slope is not None else \\
                (lambda: nn.ReLU(inplace=True))                                   # an assignment
            self.c = Block(8, 8, activation=act)
            acts = [lambda: nn.Tanh(), lambda: nn.Softmax(dim=1)]                # list elements
            self.d = Block(8, 8, activation=acts[0])
            self.e = Block(8, 8, activation=acts[1])
            named = {"gelu": lambda: nn.GELU(), "prelu": lambda: nn.PReLU(8)}    # dict values
            self.f = Block(8, 8, activation=named["gelu"])
            self.g = Block(8, 8, activation=named["prelu"])                      # a layer with parameters
            self.h = Block(8, 8, activation=lambda_prelu(8))
            self.i = Block(8, 8, activation=MODULE_ACT, norm=MODULE_NORM)        # built at module level
            self.j = Block(8, 8, activation=lambda: nn.PReLU(8), norm=lambda c: nn.BatchNorm2d(c))
            self.k = Block(8, 8, activation=lambda_gate(8))                     # a factory with parameters
            self.l = Block(8, 4, activation=lambda: Gate(4))

        def forward(self, x):
            for blk in (self.a, self.b, self.c, self.d, self.e, self.f, self.g, self.h, self.i, self.j, self.k,
                        self.l):
                x = blk(x)
            return x
""")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_factory_lambdas_handed_on(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert result.todo_count == 0, result.code
    code = result.code
    assert "activation(rngs=rngs)" in code, code
    # layers drawing nothing: rngs=None; a lambda at module level building a norm: its own
    assert "activation=(lambda *, rngs=None: jax.nn.elu)" in code, code
    assert "MODULE_ACT = lambda *, rngs=None:" in code, code
    assert "MODULE_NORM = lambda c, *, rngs: " in code, code
    x = rand(2, 3, 6, 6)
    run_parity(result, tmod, jmod, wmod, "Net", [x])
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=True)
