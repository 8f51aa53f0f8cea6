"""Translator mechanisms met in transformers' vision models (issue 14), each on a
small fixture of its own: outputs at parity with torch, eagerly and under nnx.jit.

- a plain layer keeping its input's rank (LayerNorm) keeps it known: ConvNeXt's
  ``ConvNextLayerNorm(nn.LayerNorm)`` permutes to channels-last around
  ``super().forward`` on one flag value only; where its branches joined, the
  rank was lost, so the class, called in a loop over a ModuleList next to a conv,
  was not asked to return channels-last and the conv was handed torch's order;
- a buffer assigned as ``nn.Buffer(...)`` (Swin's relative position index) is a
  Variable like ``register_buffer``'s: read as its value where it is an index
  (under ``nnx.jit`` a Variable index raised).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import run_parity, translate_files

torch.set_num_threads(1)

FLAGGED_NORM = """import torch
import torch.nn as nn


class LN(nn.LayerNorm):
    def __init__(self, n, data_format="channels_last"):
        super().__init__(n)
        self.data_format = data_format

    def forward(self, x):
        if self.data_format == "channels_first":
            x = x.permute(0, 2, 3, 1)
            x = super().forward(x)
            x = x.permute(0, 3, 1, 2)
        else:
            x = super().forward(x)
        return x


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.down = nn.ModuleList([LN(4, data_format="channels_first"), nn.Conv2d(4, 8, 2, stride=2)])
        self.norm = LN(8)

    def forward(self, x):
        x = self.stem(x)
        for layer in self.down:
            x = layer(x)
        x = x.permute(0, 2, 3, 1)
        return self.norm(x)
"""

BUFFER_INDEX = """import torch
import torch.nn as nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.randn(7, 3))
        self.index = nn.Buffer(torch.tensor([[0, 6], [3, 3]]).view(-1), persistent=False)

    def forward(self, x):
        return x + self.table[self.index]
"""


@pytest.mark.parametrize("jit", [False, True])
def test_flagged_layer_norm_in_a_loop(tmp_path, jit):
    result, tmod, jmod, wmod = translate_files(FLAGGED_NORM, tmp_path)
    assert result.todo_count == 0, [d.format() for d in result.diagnostics]
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "M", [x], jit=jit)


@pytest.mark.parametrize("jit", [False, True])
def test_buffer_as_an_index(tmp_path, jit):
    result, tmod, jmod, wmod = translate_files(BUFFER_INDEX, tmp_path)
    assert result.todo_count == 0, [d.format() for d in result.diagnostics]
    assert "self.table[self.index[...]]" in result.code, result.code
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "M", [x], jit=jit)
