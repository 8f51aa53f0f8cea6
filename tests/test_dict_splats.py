"""A row's call with its settings handed on as a dict (pytorchcv's OctConv:
``F.conv2d(input=x, weight=w, **self.conv_kwargs)``): each parameter the call
does not bind itself is read from the dict at run time, with the row's
default (kwarg_splats.expanded), so the row applies as usual, layouts and all.
Before, such a call was left in place under a T2N002 marker and failed at run
time (a torch function handed jax arrays)."""

from __future__ import annotations

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = '''import torch
from torch import nn
import torch.nn.functional as F


class SplitConv(nn.Conv2d):
    """A conv running on slices of its weight, its settings handed on as a dict (OctConv)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=1, dilation=1, groups=1, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias)
        self.conv_kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        self.h = in_channels // 2

    def forward(self, x):
        # a bias that may be None, chosen so (OctConv): added only where it is not
        hx = F.conv2d(x[:, :self.h], weight=self.weight[:, :self.h],
                      bias=self.bias[:3] if self.bias is not None else None, **self.conv_kwargs)
        lx = F.conv2d(input=x[:, self.h:], weight=self.weight[:, self.h:], **self.conv_kwargs)
        return hx + lx


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.conv = SplitConv(8, 3, 3, stride=2, padding=1)
        pool = {"kernel_size": 2, "stride": 1}
        self.pool = pool

    def forward(self, x):
        x = self.conv(self.stem(x))
        return F.avg_pool2d(x, **self.pool)
'''


@pytest.mark.parametrize("jit", [False, True])
def test_dict_splat_read_by_name(tmp_path, jit):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert result.todo_count == 0, result.code
    assert 'self.conv_kwargs.get("stride", 1)' in result.code, result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=jit)
