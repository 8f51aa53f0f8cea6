"""A layer's weight handed to a function for its value, and torch values that
reach jnp (``hand_on_weight``): ``conv2d_same(x, self.weight, self.bias, ...)``
in a subclass of ``nn.Conv2d`` (timm's Conv2dSame) gets the kernel as an array
in torch's order (``torch_array``), so the function's ``weight.shape[-2:]`` and
its ``F.conv2d`` read torch's axes and no ``nnx.Variable`` reaches ``jax.lax``
(which refuses it under abstractification); a bias that may be None (a Conv
built with ``bias=False``) is added only when it is there."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

HEADER = "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


CONV_SAME = HEADER + textwrap.dedent("""
    def pad_same(x, kernel_size, stride, dilation):
        ih, iw = x.size()[-2:]
        pad_h = max((math.ceil(ih / stride[0]) - 1) * stride[0] + (kernel_size[0] - 1) * dilation[0] + 1 - ih, 0)
        pad_w = max((math.ceil(iw / stride[1]) - 1) * stride[1] + (kernel_size[1] - 1) * dilation[1] + 1 - iw, 0)
        return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


    def conv2d_same(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        x = pad_same(x, weight.shape[-2:], stride, dilation)
        return F.conv2d(x, weight, bias, stride, (0, 0), dilation, groups)


    class Conv2dSame(nn.Conv2d):
        def __init__(self, cin, cout, kernel_size, stride=1, groups=1, bias=True):
            super().__init__(cin, cout, kernel_size, stride, 0, 1, groups, bias)

        def forward(self, x):
            return conv2d_same(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Conv2dSame(3, 6, (3, 5), stride=2)
            self.b = Conv2dSame(6, 6, 3, groups=6, bias=False)

        def forward(self, x):
            return self.b(self.a(x))
""")


def test_weight_handed_to_a_function_for_its_value(tmp_path):
    result, tmod, jmod, wmod = translate_files(CONV_SAME, tmp_path)
    assert "torch_array(" in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 9, 11)], jit=True)


INIT_AND_USE = HEADER + textwrap.dedent("""
    def scale_(w, s):
        with torch.no_grad():
            w.mul_(s)


    def weight_sum(w):
        return w.sum((1, 2, 3))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            scale_(self.conv.weight, 0.5)

        def forward(self, x):
            return self.conv(x).mean((2, 3)) + weight_sum(self.conv.weight)
""")


def test_weight_filled_in_place_and_read_for_its_value(tmp_path):
    """A statement call (an init helper) still gets the Variable it writes into;
    a call whose value is used gets torch's order."""
    result, tmod, jmod, wmod = translate_files(INIT_AND_USE, tmp_path)
    assert "torch_weight(" in result.code and "torch_array(" in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 8, 8)], jit=True)


HANDED_TO_FUNCTION = '''
import torch
from torch import nn


def _bias(table: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    return table[index].view(n * n, n * n, -1).permute(2, 0, 1)


def _init_(t: torch.Tensor) -> None:
    with torch.no_grad():
        t.mul_(0.5)


class M(nn.Module):
    def __init__(self, n: int = 3, heads: int = 2):
        super().__init__()
        self.n = n
        self.table = nn.Parameter(torch.randn((2 * n - 1) ** 2, heads) * 0.1)
        coords = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (n - 1)
        self.register_buffer("index", (rel[..., 0] * (2 * n - 1) + rel[..., 1]).flatten(), persistent=False)

    def reset(self):
        _init_(self.table)  # written in place: handed as the Variable itself

    def forward(self, x):
        return x + _bias(self.table, self.index, self.n)
'''


def test_variables_handed_to_a_plain_function_are_read_as_values(tmp_path):
    """torchvision's Swin hands a parameter and an index buffer to a module-level
    function that indexes one with the other: under nnx.jit a Variable used as an
    index raised ("Triggering __jax_array__() during abstractification"). Arguments
    of the run's plain functions are read as values, except where the function
    writes the argument in place (it must get the Variable)."""
    result, tmod, jmod, wmod = translate_files(HANDED_TO_FUNCTION, tmp_path)
    assert "_bias(self.table[...], self.index[...], self.n)" in result.code.replace("\n", "").replace("    ", "")
    assert "_init_(self.table)" in result.code
    x = np.random.default_rng(0).standard_normal((2, 2, 9, 9)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "M", [x], jit=True)


def test_variables_of_a_base_class_handed_to_a_function_are_read_as_values(tmp_path):
    """The subclass reads the index buffer its base registers (torchvision's
    ShiftedWindowAttentionV2): the base's Variables count for the subclass too."""
    source = HANDED_TO_FUNCTION + '''

class Sub(M):
    def forward(self, x):
        return x - _bias(self.table * 2, self.index, self.n)
'''
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    assert "self.index[...]" in result.code.split("class Sub")[1], result.code
    x = np.random.default_rng(0).standard_normal((2, 2, 9, 9)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Sub", [x], jit=True)
