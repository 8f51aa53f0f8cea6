"""A tuple a function returns, or an assignment unpacks into, holds several
values, each its own (expressions._sequence). Before, an undecided parameter
in it was laid out as the tuple's tensors: pytorchcv's DIA units return
``(x, hc)`` with ``hc`` a pair of lists of feature vectors, so ``hc`` was taken
as a channels-last map, and the attention cell transposed a list
(``transpose requires ndarray``). Operands of one op (a list handed to cat)
are still laid out alike.

A callable handed a layer and values (pytorchcv's ``DualPathSequential``:
``x1, x2 = self.dual_path_scheme(module, x1, x2)``, a lambda given to the
constructor) returns the values as handed, each unpacked name the layout of
the value at its place (tuple_layouts.note_handed); and a class returning a
tuple under one flag and its first item under the other (``return x1, x2`` or
``return x1``, ``x2`` a parameter handed back) returns that item's layout
(tuple_layouts.tensor_or_items). Before, the result was unknown, and the model
transposed the channels-last map it returns as if it were in torch order
(pytorchcv's dpn68)."""

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


SCHEMES = textwrap.dedent('''
    import torch
    from torch import nn


    class DualPathSequential(nn.Sequential):
        def __init__(self, return_two=True, first_ordinals=0, last_ordinals=0,
                     dual_path_scheme=(lambda module, x1, x2: module(x1, x2)),
                     dual_path_scheme_ordinal=(lambda module, x1, x2: (module(x1), x2))):
            super().__init__()
            self.return_two = return_two
            self.first_ordinals = first_ordinals
            self.last_ordinals = last_ordinals
            self.dual_path_scheme = dual_path_scheme
            self.dual_path_scheme_ordinal = dual_path_scheme_ordinal

        def forward(self, x1, x2=None):
            length = len(self._modules.values())
            for i, module in enumerate(self._modules.values()):
                if (i < self.first_ordinals) or (i >= length - self.last_ordinals):
                    x1, x2 = self.dual_path_scheme_ordinal(module, x1, x2)
                else:
                    x1, x2 = self.dual_path_scheme(module, x1, x2)
            if self.return_two:
                return x1, x2
            else:
                return x1


    class DualUnit(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.a = nn.Conv2d(8, c, 1)
            self.b = nn.Conv2d(8, c, 3, padding=1)

        def forward(self, x1, x2=None):
            # the first unit is handed no second path (dpn's units: x2 is None)
            x_in = torch.cat((x1, x2), dim=1) if x2 is not None else torch.cat((x1, x1), dim=1)
            return self.a(x_in[:, :8]), self.b(x_in[:, 8:])


    class Net(nn.Module):
        def __init__(self, c=8):
            super().__init__()
            self.stem = nn.Conv2d(3, c, 3, padding=1)
            self.features = DualPathSequential(return_two=False, first_ordinals=1, last_ordinals=1)
            self.features.add_module("init", nn.Conv2d(c, c, 3, padding=1))
            self.features.add_module("u1", DualUnit(c))
            self.features.add_module("u2", DualUnit(c))
            self.features.add_module("pool", nn.AvgPool2d(2))
            self.output = nn.Linear(c, 5)

        def forward(self, x):
            x = self.stem(x)
            x = self.features(x)
            return self.output(x.mean(dim=(2, 3)))  # the mean of a channels-last map


    class Net2(nn.Module):
        """The image goes straight into the container (dpn): nothing tells it the
        layout of what it is handed, so it hands its first parameter back."""

        def __init__(self, c=8):
            super().__init__()
            self.features = DualPathSequential(return_two=False, first_ordinals=1, last_ordinals=1)
            self.features.add_module("init", nn.Conv2d(3, c, 3, padding=1))
            self.features.add_module("u1", DualUnit(c))
            self.features.add_module("pool", nn.AvgPool2d(2))
            self.output = nn.Sequential(nn.Conv2d(c, 5, 1), nn.ReLU())

        def forward(self, x):
            x = self.features(x)
            x = self.output(x)
            return x.flatten(1)
''')


@pytest.mark.parametrize("cls", ["Net", "Net2"])
@pytest.mark.parametrize("jit", [False, True])
def test_scheme_handed_a_layer_returns_the_values(tmp_path, jit, cls):
    source = SCHEMES
    if cls == "Net2":  # no Net: nothing in the file hands the container a known layout
        source = source[:source.index("class Net(")] + source[source.index("class Net2("):]
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    assert result.todo_count == 0, result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, cls, [x], jit=jit)
