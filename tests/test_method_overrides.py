"""A method the base class's ``__init__`` calls, overridden in a subclass
(torchvision's Swin V2: ``define_relative_position_bias_table`` builds a
parameter in the base and only buffers in the subclass): the call hands
``rngs`` whichever method runs, so every override takes them. Torch vs NNX,
perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

SOURCE = """
import torch
import torch.nn as nn


class Attn(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.proj = nn.Linear(dim, dim)
        self.define_table()

    def define_table(self):
        self.table = nn.Parameter(torch.zeros(self.dim))
        nn.init.trunc_normal_(self.table, std=0.02)

    def bias(self):
        return self.table

    def forward(self, x):
        return self.proj(x) + self.bias()


class AttnV2(Attn):
    def __init__(self, dim):
        super().__init__(dim)
        self.mlp = nn.Linear(2, dim)

    def define_table(self):
        self.register_buffer("coords", torch.linspace(-1.0, 1.0, 2), persistent=False)

    def bias(self):
        return self.mlp(self.coords)
"""


def test_an_override_of_a_method_building_parameters_takes_rngs(tmp_path):
    result, tmod, jmod, wmod = translate_files(textwrap.dedent(SOURCE), tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32)
    for cls in ("Attn", "AttnV2"):
        for jit in (False, True):
            run_parity(result, tmod, jmod, wmod, cls, [x], kwargs={"dim": 8}, jit=jit)
