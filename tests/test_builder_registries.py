"""A module-level registry of layer-building functions (pytorchcv's DARTS:
``GENOTYPE_OPS = {'sep_conv_3x3': darts_dws_branch3x3, ...}``, called as
``GENOTYPE_OPS[name](channels, stride)``): every function in it takes ``rngs``
(one of them building layers is enough) and the call through the registry hands
them on (layer_globals._function_registries, analyze.find_builders). Before,
the call handed none: ``missing 1 required keyword-only argument: 'rngs'``."""

from __future__ import annotations

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = 'import torch\nimport torch.nn as nn\n\n\nclass SepConv(nn.Module):\n    def __init__(self, channels, stride):\n        super().__init__()\n        self.dw = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels, bias=False)\n        self.pw = nn.Conv2d(channels, channels, 1, bias=False)\n        self.bn = nn.BatchNorm2d(channels)\n\n    def forward(self, x):\n        return self.bn(self.pw(self.dw(torch.relu(x))))\n\n\ndef max_pool_3x3(channels, stride):\n    assert channels > 0\n    return nn.MaxPool2d(kernel_size=3, stride=stride, padding=1)\n\n\ndef skip_connect(channels, stride):\n    return nn.Identity()\n\n\ndef sep_conv_3x3(channels, stride):\n    return SepConv(channels, stride)\n\n\nOPS = {\n    "max_pool_3x3": max_pool_3x3,\n    "skip_connect": skip_connect,\n    "sep_conv_3x3": sep_conv_3x3,\n}\n\n\nclass Cell(nn.Module):\n    def __init__(self, genotype, channels):\n        super().__init__()\n        self.ops = nn.ModuleList()\n        for name in genotype:\n            self.ops += [OPS[name](channels, 1)]\n\n    def forward(self, x):\n        out = 0\n        for op in self.ops:\n            out = out + op(x)\n        return out\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.stem = nn.Conv2d(3, 8, 3, padding=1)\n        self.cell = Cell(["sep_conv_3x3", "max_pool_3x3", "skip_connect", "sep_conv_3x3"], 8)\n        self.head = nn.Conv2d(8, 2, 1)\n\n    def forward(self, x):\n        return self.head(self.cell(self.stem(x)))\n'


@pytest.mark.parametrize("jit", [False, True])
def test_registry_of_builders(tmp_path, jit):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    code = result.code
    assert result.todo_count == 0, code
    assert "def max_pool_3x3(channels, stride, *, rngs: nnx.Rngs):" in code, code
    assert "def skip_connect(channels, stride, *, rngs: nnx.Rngs):" in code, code
    assert "self.ops += [OPS[name](channels, 1, rngs=rngs)]" in code, code
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=jit)
