"""A layer's weight handed to a functional op as a plain operand, and the
layer's own arguments passed through ``**kwargs`` to its torch base.
efficientnet_pytorch's same-padding convs (written from scratch here):
``Conv2dDynamicSamePadding(nn.Conv2d).forward`` pads, then calls
``F.conv2d(x, self.weight, self.bias, self.stride, self.padding,
self.dilation, self.groups)``; ``self.weight`` is the NNX kernel (*K, I, O),
handed to the op in torch's (O, I, *K). Its static twin hands ``bias`` to
``super().__init__`` through ``**kwargs``; a model holds its children under
names starting with an underscore (``self._conv_stem``), which torch's
state_dict names as they are. Parity with perturbed weights, eval, eagerly and
under ``nnx.jit``."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = textwrap.dedent('''
    import math

    import torch.nn as nn
    import torch.nn.functional as F


    class Conv2dDynamicSamePadding(nn.Conv2d):
        def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1, groups=1, bias=True):
            super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)
            self.stride = self.stride if len(self.stride) == 2 else [self.stride[0]] * 2

        def forward(self, x):
            ih, iw = x.size()[-2:]
            kh, kw = self.weight.size()[-2:]
            sh, sw = self.stride
            oh, ow = math.ceil(ih / sh), math.ceil(iw / sw)
            pad_h = max((oh - 1) * self.stride[0] + (kh - 1) * self.dilation[0] + 1 - ih, 0)
            pad_w = max((ow - 1) * self.stride[1] + (kw - 1) * self.dilation[1] + 1 - iw, 0)
            if pad_h > 0 or pad_w > 0:
                x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


    class Conv2dStaticSamePadding(nn.Conv2d):
        def __init__(self, in_channels, out_channels, kernel_size, stride=1, image_size=None, **kwargs):
            super().__init__(in_channels, out_channels, kernel_size, stride, **kwargs)
            self.stride = self.stride if len(self.stride) == 2 else [self.stride[0]] * 2
            ih, iw = (image_size, image_size)
            kh, kw = self.weight.size()[-2:]
            sh, sw = self.stride
            oh, ow = math.ceil(ih / sh), math.ceil(iw / sw)
            pad_h = max((oh - 1) * self.stride[0] + (kh - 1) * self.dilation[0] + 1 - ih, 0)
            pad_w = max((ow - 1) * self.stride[1] + (kw - 1) * self.dilation[1] + 1 - iw, 0)
            self.static_padding = nn.ZeroPad2d((pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))

        def forward(self, x):
            x = self.static_padding(x)
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem = Conv2dStaticSamePadding(3, 6, 3, stride=2, image_size=8, bias=False)
            self._bn0 = nn.BatchNorm2d(6)
            self._depthwise = Conv2dDynamicSamePadding(6, 6, 3, groups=6, bias=False)
            self._project = Conv2dDynamicSamePadding(6, 4, 1)

        def forward(self, x):
            return self._project(self._depthwise(self._bn0(self._conv_stem(x)).relu()))
''')


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translate_files(SOURCE, tmp_path_factory.mktemp("weight_operands"))


@pytest.mark.parametrize("jit", [False, True])
def test_parity(translated, jit):
    result, torch_mod, nnx_mod, weights_mod = translated
    x = np.random.RandomState(0).randn(2, 3, 8, 8).astype(np.float32)
    assert run_parity(result, torch_mod, nnx_mod, weights_mod, "Net", [x], jit=jit) < 1e-4
