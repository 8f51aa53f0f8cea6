"""Layers of a chain that take different layouts (torchvision MaxViT: an
MBConv block returns its map channels-last, a partition-attention layer takes
it channels-last and returns torch order, and the next one takes channels-last
again; issue 12). Before, a Sequential built at run time from an OrderedDict
or a list got a TODO (T2N004) and ran its layers back to back, and a loop over
a ModuleList handed each layer the one before's result as it was (``cannot
reshape (64,) into [1, 1, 1, 56]``). Now:

- a class whose result comes back to it (called in a loop, or repeated in a
  Sequential built from a list) and which takes a map channels-last is asked
  to return it channels-last too (sequential_returns.py);
- a layout change left between two layers of a Sequential (static, from an
  OrderedDict, from a list) travels with the container: ``moves={index:
  axes}``, the transpose a layer's input needs first (runtime
  ``MovingSequential`` / ``NamedSequential``);
- ``self.layers += [...]`` on a ModuleList grows the list the loop reads.

Torch vs NNX, perturbed weights, outputs and input gradients, eager and nnx.jit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import input_grads, run_parity, translate_files

torch.set_num_threads(1)

LAYER = '''
from collections import OrderedDict

import torch
from torch import nn


class Layer(nn.Module):
    """Takes a map, returns it in torch's order through tokens."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.norm = nn.LayerNorm(c)

    def forward(self, x):
        x = self.conv(x)
        B, C, H, W = x.shape
        x = self.norm(x.reshape(B, C, H * W).transpose(1, 2))
        return x.transpose(1, 2).reshape(B, C, H, W)


class Tokens(nn.Module):
    """Takes a map, returns a plain tensor (not a map): nothing to ask of it."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 1)

    def forward(self, x):
        x = self.conv(x)
        B, C, H, W = x.shape
        return x.reshape(B, C, H, W) * 2.0
'''

LOOP_GROWN = LAYER + '''

class Block(nn.Module):
    def __init__(self, c, n):
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(n):
            self.layers += [Layer(c)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.block = Block(4, 3)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(self.block(self.stem(x)))
'''

CONTAINERS = LAYER + '''

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.static = nn.Sequential(Layer(4), Tokens(4), Layer(4))
        layers = OrderedDict()
        layers["a"] = Layer(4)
        layers["b"] = Tokens(4)
        layers["c"] = Layer(4)
        self.named = nn.Sequential(layers)
        blocks = []
        for _ in range(2):
            blocks.append(Layer(4))
        self.listed = nn.Sequential(*blocks)

    def forward(self, x):
        return self.listed(self.named(self.static(self.stem(x))))
'''


@pytest.mark.parametrize("source", [LOOP_GROWN, CONTAINERS], ids=["loop-over-grown-list", "containers"])
def test_layers_taking_different_layouts_in_one_chain(tmp_path, source):
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    code = result.code
    assert "T2N004" not in code, code
    layer_doc = code[code.index("class Layer"):code.index("def __init__", code.index("class Layer"))]
    assert "returns (N, H, W, C)" in " ".join(layer_doc.split()), code  # Layer was asked to
    if source is CONTAINERS:
        assert "moves={" in code, code  # Tokens returns a plain map: the container moves it
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [x], jit=jit)
        t_grad, j_grad = input_grads(result, tmod, jmod, wmod, "Net", x, jit=jit)
        np.testing.assert_allclose(j_grad, t_grad, rtol=1e-4, atol=1e-4)
