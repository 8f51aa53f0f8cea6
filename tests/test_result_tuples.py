"""A tuple a function returns, or an assignment unpacks into, holds several
values, each its own (expressions._sequence). Before, an undecided parameter
in it was laid out as the tuple's tensors: pytorchcv's DIA units return
``(x, hc)`` with ``hc`` a pair of lists of feature vectors, so ``hc`` was taken
as a channels-last map, and the attention cell transposed a list
(``transpose requires ndarray``). Operands of one op (a list handed to cat)
are still laid out alike."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = textwrap.dedent('''
    import torch
    from torch import nn


    class Cell(nn.Module):
        def __init__(self, c, num_layers=2):
            super().__init__()
            self.num_layers = num_layers
            self.x_amp = nn.Linear(c, 4 * c)
            self.h_amp = nn.Linear(c, 4 * c)

        def forward(self, x, h, c):
            hy, cy = [], []
            for i in range(self.num_layers):
                gates = self.x_amp(x) + self.h_amp(h[i])
                i_gate, f_gate, c_gate, o_gate = gates.chunk(chunks=4, dim=1)
                cy_i = torch.sigmoid(f_gate) * c[i] + torch.sigmoid(i_gate) * torch.tanh(c_gate)
                hy_i = torch.sigmoid(o_gate) * torch.sigmoid(cy_i)
                cy.append(cy_i)
                hy.append(hy_i)
                x = hy_i
            return hy, cy


    class Attention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.cell = Cell(c)

        def forward(self, x, hc=None):
            w = self.pool(x).view(x.size(0), -1)
            if hc is None:
                h = [torch.zeros_like(w)] * 2
                c = [torch.zeros_like(w)] * 2
            else:
                h, c = hc
            h, c = self.cell(w, h, c)
            w = h[-1].unsqueeze(-1).unsqueeze(-1)
            return x * w, (h, c)


    class Unit(nn.Module):
        def __init__(self, c, attention):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.attention = attention

        def forward(self, x, hc=None):
            x = self.conv(x)
            x, hc = self.attention(x, hc)
            return torch.relu(x), hc


    class Stage(nn.Sequential):
        def forward(self, x, hc=None):
            for unit in self:
                x, hc = unit(x, hc)
            return x


    class Net(nn.Module):
        def __init__(self, c=8):
            super().__init__()
            self.init = nn.Conv2d(3, c, 3, padding=1)
            att = Attention(c)  # one attention module shared by the stage's units
            self.stage = Stage(Unit(c, att), Unit(c, att))
            self.skip = nn.Conv2d(c, c, 1)
            self.head = nn.Conv2d(2 * c, 5, 1)

        def forward(self, x):
            x = self.init(x)
            y = self.stage(x)
            return self.head(torch.cat((y, self.skip(x)), dim=1))
''')


@pytest.mark.parametrize("jit", [False, True])
def test_state_tuple_through_units(tmp_path, jit):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert result.todo_count == 0, result.code
    assert "takes hc" not in result.code, result.code  # a pair of lists, no map
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=jit)
