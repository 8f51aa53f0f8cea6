"""A conditional expression choosing between a channels-last map and plain
features (pytorchcv's SEBlock: ``w = self.conv1(w) if self.use_conv else
self.fc1(w)``): both sides go in torch order (expressions.leave_IfExp). Before,
the result was an unknown value, and the 1x1 conv after it transposed the
channels-last map as if it were in torch order."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = textwrap.dedent('''
    from inspect import isfunction

    import torch
    import torch.nn as nn


    def lambda_relu(inplace=True):
        return lambda: nn.ReLU(inplace=inplace)


    def create_activation_layer(activation):
        if isfunction(activation):
            return activation()
        return activation


    class SEBlock(nn.Module):
        def __init__(self, channels, reduction=4, use_conv=True, mid_activation=lambda_relu()):
            super().__init__()
            self.use_conv = use_conv
            mid = channels // reduction
            self.pool = nn.AdaptiveAvgPool2d(output_size=1)
            if use_conv:
                self.conv1 = nn.Conv2d(channels, mid, 1)
            else:
                self.fc1 = nn.Linear(channels, mid)
            self.activ = create_activation_layer(mid_activation)
            if use_conv:
                self.conv2 = nn.Conv2d(mid, channels, 1)
            else:
                self.fc2 = nn.Linear(mid, channels)
            self.sigmoid = nn.Sigmoid()

        def forward(self, x):
            w = self.pool(x)
            if not self.use_conv:
                w = w.view(x.size(0), -1)
            w = self.conv1(w) if self.use_conv else self.fc1(w)
            w = self.activ(w)
            w = self.conv2(w) if self.use_conv else self.fc2(w)
            w = self.sigmoid(w)
            if not self.use_conv:
                w = w.unsqueeze(2).unsqueeze(3)
            return x * w


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.se = SEBlock(8)
            self.se2 = SEBlock(8, use_conv=False)
            self.head = nn.Conv2d(8, 5, 1)

        def forward(self, x):
            return self.head(self.se2(self.se(self.conv(x))))
''')


@pytest.mark.parametrize("jit", [False, True])
def test_map_or_features_chosen_by_a_flag(tmp_path, jit):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert result.todo_count == 0, result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=jit)
