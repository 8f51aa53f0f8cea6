"""A translated class returning torch order where the next layer of a Sequential
takes channels-last (timm's TResNet: ``SpaceToDepth`` ends in a reshape, then
the first conv; issue 11). The Sequential runs its layers back to back, so the
conv got a map in torch order (``8 // 1 != 48``) and a TODO. Now the fold asks
the class to return channels-last (sequential_returns.py) and the TODO goes.
Torch vs NNX, perturbed weights, outputs and input gradients, eager and
nnx.jit."""

from __future__ import annotations

import numpy as np
import torch

from harness import input_grads, run_parity, translate_files

torch.set_num_threads(1)

SOURCE = '''
from collections import OrderedDict
import torch
from torch import nn


class SpaceToDepth(nn.Module):
    def __init__(self, block_size: int = 2):
        super().__init__()
        self.bs = block_size

    def forward(self, x):
        N, C, H, W = x.size()
        x = x.view(N, C, H // self.bs, self.bs, W // self.bs, self.bs)
        x = x.permute(0, 3, 5, 1, 2, 4).contiguous()
        x = x.view(N, C * self.bs * self.bs, H // self.bs, W // self.bs)
        return x


class ConvAct(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(OrderedDict([("s2d", SpaceToDepth()), ("conv1", ConvAct(12, 8)), ("conv2", ConvAct(8, 8))]))
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.body(x)
        return self.head(x.mean((2, 3)))
'''


def test_class_before_a_channels_last_layer_returns_channels_last(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [x], jit=jit)
        t_grad, j_grad = input_grads(result, tmod, jmod, wmod, "Net", x, jit=jit)
        np.testing.assert_allclose(j_grad, t_grad, rtol=1e-4, atol=1e-4)
