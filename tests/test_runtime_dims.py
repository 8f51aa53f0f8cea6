"""A dim known only at run time (pytorchcv's Concurrent: ``torch.cat(out,
dim=self.axis)``; ``x.mean(dim=self.dims, keepdim=True)``) on a channels-last
tensor, where the op's result keeps its input's layout: the axis is found at
run time (``channels_last_axis``), the tensor stays channels-last (row_calls.
remap_dims). Before, each such op moved its input to torch order."""

from __future__ import annotations

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = 'import torch\nimport torch.nn as nn\n\n\nclass Branches(nn.Module):\n    def __init__(self, cin, axis=1, dims=(2, 3)):\n        super().__init__()\n        self.axis = axis\n        self.dims = dims\n        self.a = nn.Conv2d(cin, 4, 1)\n        self.b = nn.Conv2d(cin, 4, 3, padding=1)\n        self.bn = nn.BatchNorm2d(8)\n\n    def forward(self, x):\n        x = torch.cat((self.a(x), self.b(x)), dim=self.axis)\n        x = self.bn(x)\n        w = torch.softmax(x.mean(dim=self.dims, keepdim=True), dim=self.axis)\n        return x * w + x.flip(self.axis)\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.stem = nn.Conv2d(3, 6, 3, padding=1)\n        self.b1 = Branches(6)\n        self.b2 = Branches(8)\n        self.head = nn.Conv2d(8, 2, 1)\n\n    def forward(self, x):\n        return self.head(self.b2(self.b1(self.stem(x))))\n'


@pytest.mark.parametrize("jit", [False, True])
def test_runtime_dims_keep_channels_last(tmp_path, jit):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    code = result.code
    assert result.todo_count == 0, code
    block = code[code.index("class Branches"):code.index("class Net")]
    assert "axis=channels_last_axis(self.axis, (0, 2, 3, 1))" in block, block
    assert "axis=channels_last_axis(self.dims, (0, 2, 3, 1)), keepdims=True" in block, block
    # only x.flip(self.axis) (a row of another layout kind) goes through torch order
    assert block.count("jnp.transpose") == 1 and "jnp.flip(jnp.transpose(x, (0, 3, 1, 2)), self.axis)" in block, block
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=jit)


def test_channels_last_axis():
    from torch2nnx.runtime.helpers import channels_last_axis

    perm = (0, 2, 3, 1)
    assert channels_last_axis(1, perm) == 3 and channels_last_axis(-1, perm) == 2
    assert channels_last_axis((2, 3), perm) == (1, 2) and channels_last_axis(None, perm) is None
