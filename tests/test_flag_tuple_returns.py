"""A class returning a tuple or a tensor as a constructor flag says: pytorchcv's
``PreConvBlock(..., return_preact=True)`` returns ``(x, x_pre_activ)``, else
``x``; ``PreResBlock`` unpacks ``x, x_pre_activ = self.conv1(x)``. Both shapes of
result hold channels-last maps, so the class's result is those maps, unpacked or
not (before: the returns joined to unknown, the caller read the unpacked items as
torch order and transposed the channels-last map again, handing a 32-channel
tensor to a 16-feature BatchNorm)."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

SOURCE = HEADER + textwrap.dedent("""
    class PreConvBlock(nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride, padding, return_preact=False):
            super().__init__()
            self.return_preact = return_preact
            self.bn = nn.BatchNorm2d(num_features=in_channels)
            self.activ = nn.ReLU(inplace=True)
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                  bias=False)

        def forward(self, x):
            x = self.bn(x)
            x = self.activ(x)
            if self.return_preact:
                x_pre_activ = x
            x = self.conv(x)
            if self.return_preact:
                return x, x_pre_activ
            else:
                return x


    def pre_conv3x3_block(stride=1, padding=1, **kwargs):
        return PreConvBlock(kernel_size=3, stride=stride, padding=padding, **kwargs)


    class PreResBlock(nn.Module):
        def __init__(self, in_channels, out_channels, stride):
            super().__init__()
            self.conv1 = pre_conv3x3_block(in_channels=in_channels, out_channels=out_channels, stride=stride,
                                           return_preact=True)
            self.conv2 = pre_conv3x3_block(in_channels=out_channels, out_channels=out_channels)

        def forward(self, x):
            x, x_pre_activ = self.conv1(x)
            x = self.conv2(x)
            return x, x_pre_activ


    class PreResUnit(nn.Module):
        def __init__(self, in_channels, out_channels, stride):
            super().__init__()
            self.resize_identity = (in_channels != out_channels) or (stride != 1)
            self.body = PreResBlock(in_channels, out_channels, stride)
            if self.resize_identity:
                self.identity_conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

        def forward(self, x):
            identity = x
            x, x_pre_activ = self.body(x)
            if self.resize_identity:
                identity = self.identity_conv(x_pre_activ)
            x = x + identity
            return x


    class Net(nn.Module):
        def __init__(self, channels=3, num_classes=5):
            super().__init__()
            self.init_conv = nn.Conv2d(channels, 8, 3, padding=1)
            self.stage = nn.Sequential(PreResUnit(8, 8, 1), PreResUnit(8, 16, 2), PreResUnit(16, 16, 1))
            self.post = PreConvBlock(16, 16, 1, 1, 0)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, num_classes)

        def forward(self, x):
            x = self.post(self.stage(self.init_conv(x)))
            return self.fc(self.pool(x).flatten(1))
""")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_flag_chosen_tuple_or_tensor_returns(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert result.todo_count == 0, result.code
    # the unpacked map goes on channels-last, as the block returned it
    assert "self.conv2(x)" in result.code, result.code
    x = rand(2, 3, 8, 8)
    run_parity(result, tmod, jmod, wmod, "Net", [x])
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=True)
    # the tuple itself: both items channels-last maps
    kw = {"in_channels": 8, "out_channels": 16, "stride": 2}
    run_parity(result, tmod, jmod, wmod, "PreResBlock", [rand(2, 8, 6, 6)], kwargs=kw, jit=True)
