"""Closures that build layers, handed out as factories (closures.py): a
function returning a nested ``def`` that builds a layer (timm's
``act_with_gamma``) is called where a layer class is expected, with ``rngs=``;
the closure takes ``rngs`` of its own, defaulting to the ones it closed over."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

CLOSURES = HEADER + textwrap.dedent("""
    class GammaAct(nn.Module):
        def __init__(self, gamma=1.0, inplace=False):
            super().__init__()
            self.gamma = gamma
            self.inplace = inplace

        def forward(self, x):
            return F.relu(x) * self.gamma


    def act_with_gamma(gamma=1.0):
        def _create(inplace=False):
            return GammaAct(gamma=gamma, inplace=inplace)
        return _create


    def linear_of(dim, bias=True):
        def _create(out_dim=dim):
            return nn.Linear(dim, out_dim, bias=bias)
        return _create


    def make_stem(dim, fc_layer, act_layer):
        return nn.Sequential(fc_layer(), act_layer(inplace=True), fc_layer(dim))


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            act_layer = act_with_gamma(1.7)
            fc_layer = linear_of(dim)
            self.stem = make_stem(dim, fc_layer, act_layer)
            self.fc = fc_layer()
            self.act = act_layer()

        def forward(self, x):
            return self.act(self.fc(self.stem(x)))
""")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_closure_factories_take_rngs(tmp_path):
    result, tmod, jmod, wmod = translate_files(CLOSURES, tmp_path)
    assert result.todo_count == 0, result.code
    # linear_of builds only in the closure it returns: a factory maker (factory_makers.py),
    # taking no rngs; the closure takes its own, handed by whoever calls it
    assert "def linear_of(dim, bias=True):" in result.code, result.code
    assert "def _create(out_dim=dim, *, rngs):" in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)])
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)], jit=True)
