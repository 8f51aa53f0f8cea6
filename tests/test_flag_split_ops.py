"""A tensor whose layout a flag chooses (flag_splits.py) handed to an op, not to a
translated function or module (timm's Hiera ``MaskUnitAttention``: q, k, v
unbound from a permute that differs between the windowed and the global
branch, then ``F.scaled_dot_product_attention(q, k, v)``; issue 11). A split
name read as a call's argument is left for the callee to take as it is; an op
does not, so k and v went in held in their branch's permutation (``add got
incompatible shapes for broadcasting``). Now a row call gets each split tensor
in one layout (RowCallsMixin._split_tensors_in_one_layout). Torch vs NNX,
perturbed weights, outputs and input gradients, eager and nnx.jit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import input_grads, run_parity, translate_files

torch.set_num_threads(1)

SOURCE = '''
import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim: int = 8, heads: int = 2, windowed: bool = True, q_stride: int = 1):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.heads, self.head_dim, self.dim = heads, dim // heads, dim
        self.windowed, self.q_stride = windowed, q_stride

    def forward(self, x):
        B, N, _ = x.shape
        if self.windowed:
            num_windows = 2
            qkv = self.qkv(x).reshape(B, -1, num_windows, 3, self.heads, self.head_dim).permute(3, 0, 4, 2, 1, 5)
            q, k, v = qkv.unbind(0)
            if self.q_stride > 1:
                q = q.view(B, self.heads, num_windows, self.q_stride, -1, self.head_dim).amax(dim=3)
        else:
            qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            if self.q_stride > 1:
                q = q.view(B, self.heads, self.q_stride, -1, self.head_dim).amax(dim=2)
        x = F.scaled_dot_product_attention(q, k, v)
        if self.windowed:
            x = x.transpose(1, 3).reshape(B, -1, self.dim)
        else:
            x = x.transpose(1, 2).reshape(B, -1, self.dim)
        return self.proj(x)


class Net(nn.Module):
    def __init__(self, windowed: bool = True):
        super().__init__()
        self.a = Attention(windowed=windowed, q_stride=2)
        self.b = Attention(windowed=windowed)

    def forward(self, x):
        return self.b(self.a(x))
'''


@pytest.mark.parametrize("windowed", [True, False])
def test_flag_split_tensors_handed_to_an_op(tmp_path, windowed):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 16, 8)).astype(np.float32)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [x], kwargs={"windowed": windowed}, jit=jit)
    if windowed:  # input_grads builds the default Net
        for jit in (False, True):
            t_grad, j_grad = input_grads(result, tmod, jmod, wmod, "Net", x, jit=jit)
            np.testing.assert_allclose(j_grad, t_grad, rtol=1e-4, atol=1e-4)
