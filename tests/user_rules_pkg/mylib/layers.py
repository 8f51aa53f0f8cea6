"""mylib's torch layers."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ScaledLinear(nn.Module):
    """A linear layer whose output is multiplied by a fixed ``scale``."""

    def __init__(self, in_f: int, out_f: int, scale: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_f, in_f) / in_f**0.5)
        self.bias = nn.Parameter(torch.zeros(out_f))
        self.scale = scale

    def forward(self, x):
        return self.scale * F.linear(x, self.weight, self.bias)
