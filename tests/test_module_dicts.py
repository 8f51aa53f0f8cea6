"""A module's ``_modules`` dictionary read as torch's own methods
(translator/module_dicts.py), the layers of a container iterated through
``children()`` / ``named_children()`` (module_api.children_of), and
``sum(list_of_maps)``: each at parity with torch (perturbed weights, eval,
eagerly and under ``nnx.jit``). Written from scratch after pytorchcv's
``for block in self.blocks._modules.values(): x = block(x)``."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = textwrap.dedent('''
    import torch
    import torch.nn as nn


    def unit(c):
        return nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())


    class Stack(nn.Module):
        """Blocks added by name in a loop, run through _modules; heads of a ModuleDict."""

        def __init__(self, c=4):
            super().__init__()
            self.blocks = nn.Sequential()
            for i in range(3):
                self.blocks.add_module(f"unit{i}", unit(c))
            self.heads = nn.ModuleDict({"a": nn.Conv2d(c, 2, 1), "b": nn.Conv2d(c, 3, 1)})

        def forward(self, x):
            outs = []
            for block in self.blocks._modules.values():
                x = block(x)
                outs.append(x)
            y = sum(outs) / len(self.blocks._modules) * (len(self.blocks._modules.values()) / 3)
            z = [head(y).mean((2, 3)) for name, head in self.heads._modules.items()]
            first = self.blocks._modules["unit0"]
            names = list(self.heads._modules.keys())
            return torch.cat(z, 1) * len(names) + first(x).mean((1, 2, 3))[:, None]


    class Chain(nn.Sequential):
        """A Sequential subclass running its own children through _modules (pytorchcv's DualPathSequential)."""

        def forward(self, x):
            for module in self._modules.values():
                x = module(x)
            return x


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.chain = Chain(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1))
            self.stack = Stack(4)

        def forward(self, x):
            return self.stack(self.chain(x))
''')


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translate_files(SOURCE, tmp_path_factory.mktemp("module_dicts"))


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("cls,shape", [("Stack", (2, 4, 8, 8)), ("Net", (2, 3, 8, 8))])
def test_parity(translated, cls, shape, jit):
    result, torch_mod, nnx_mod, weights_mod = translated
    x = np.random.RandomState(0).randn(*shape).astype(np.float32)
    assert run_parity(result, torch_mod, nnx_mod, weights_mod, cls, [x], jit=jit) < 1e-4


def test_the_private_dict_is_gone(translated):
    code = translated[0].code
    assert "._modules" not in code and "TODO(torch2nnx)" not in code
