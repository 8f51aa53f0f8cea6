"""A model using mylib's layer and fused op."""

import torch
import torch.nn as nn

from mylib.layers import ScaledLinear
from mylib.ops import fused_gelu_bias


class Net(nn.Module):
    def __init__(self, d_in: int = 6, hidden: int = 16, d_out: int = 3):
        super().__init__()
        self.up = ScaledLinear(d_in, hidden, scale=0.5)
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.norm = nn.LayerNorm(hidden)
        self.down = nn.Linear(hidden, d_out)

    def forward(self, x):
        h = fused_gelu_bias(self.up(x), self.bias)
        return self.down(self.norm(h))
