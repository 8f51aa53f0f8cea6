"""Attributes of a torch layer subclass that its NNX base uses for something
else (layer_attr_names.py): pytorchcv's XConv2d keeps a weight mask as
``self.mask`` and a PixelCNN MaskedConv2d registers a ``mask`` buffer, while
``nnx.Conv`` holds a kernel mask of its own under that name. Before, building
such a layer failed (a Variable assigned to NNX's static ``mask``); now the
attribute is ``mask_`` in the translation, and the weights loader ports
torch's ``mask`` entry into it."""

from __future__ import annotations

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = '''import torch
from torch import nn
import torch.nn.functional as F


class XConv2d(nn.Conv2d):
    """A conv whose weight a fixed random mask thins (pytorchcv's X-DenseNet)."""

    def __init__(self, in_channels, out_channels, kernel_size, groups=1, expand_ratio=2, **kwargs):
        super().__init__(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                         groups=groups, **kwargs)
        self.expand_ratio = expand_ratio
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        grouped_in_channels = in_channels // groups
        self.mask = torch.nn.Parameter(data=torch.Tensor(out_channels, grouped_in_channels, *kernel_size),
                                       requires_grad=False)
        self.init_parameters()

    def init_parameters(self):
        shape = self.mask.shape
        expand_size = max(shape[1] // self.expand_ratio, 1)
        self.mask[:] = 0
        for i in range(shape[0]):
            jj = torch.randperm(shape[1], device=self.mask.device)[:expand_size]
            self.mask[i, jj, :, :] = 1

    def forward(self, input):
        masked_weight = self.weight.mul(self.mask)
        return F.conv2d(input=input, weight=masked_weight, bias=self.bias, stride=self.stride,
                        padding=self.padding, dilation=self.dilation, groups=self.groups)


class MaskedConv2d(nn.Conv2d):
    """PixelCNN's causal conv: a buffer zeroes the kernel past the centre."""

    def __init__(self, mask_type, in_channels, out_channels, kernel_size, padding=0):
        super().__init__(in_channels, out_channels, kernel_size, padding=padding)
        self.register_buffer("mask", self.weight.data.clone())
        _, _, h, w = self.weight.size()
        self.mask.fill_(1)
        self.mask[:, :, h // 2, w // 2 + (mask_type == "B"):] = 0
        self.mask[:, :, h // 2 + 1:] = 0

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = MaskedConv2d("A", 3, 4, 3, padding=1)
        self.b = XConv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))
'''


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translate_files(SOURCE, tmp_path_factory.mktemp("mask"))


@pytest.mark.parametrize("jit", [False, True])
def test_masked_convs_match_torch(translated, jit):
    result = translated[0]
    assert result.todo_count == 0, result.code
    assert result.code.count('_torch_names = {"mask_": "mask"}') == 2, result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 7)).astype(np.float32)
    run_parity(*translated, "Net", [x], jit=jit)


def test_mask_ported_under_torch_name(translated):
    from flax import nnx

    result, tmod, jmod, wmod = translated
    keys = {k for k, _, _, _ in wmod.torch_key_map(jmod.Net(rngs=nnx.Rngs(0)))}
    assert {"a.mask", "b.mask", "a.weight", "b.weight"} <= keys, keys
