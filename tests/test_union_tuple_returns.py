"""A ModuleList of translated classes iterated in a loop, each returning a tuple
whose items keep their own layouts (timm's EfficientViM: every stage returns
``x_out, x, h``, two channels-last maps and a (B, C, N) hidden state a Conv1d
made, (B, N, C) here; issue 11). The loop variable is a slot holding one of the
list's classes (union_dispatch.call); every candidate returns the same tuple,
but the slot's result was tagged a plain tensor, so ``h`` was read in torch
order: ``norm(h.transpose(1, 2)).transpose(1, 2)`` normalised the wrong axis
(``cannot reshape array of shape (8,) into shape [1, 1, 64]``). Now candidates
agreeing on a non-tensor result give that result, items and all. Torch vs NNX,
perturbed weights, outputs and input gradients, eager and nnx.jit."""

from __future__ import annotations

import numpy as np
import torch

from harness import input_grads, run_parity, translate_files

torch.set_num_threads(1)

SOURCE = '''
from typing import List
import torch
from torch import nn


class Stage(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.proj = nn.Conv1d(cout, cout, 1)

    def forward(self, x):
        x = self.conv(x)
        h = self.proj(x.flatten(2))
        return x, x * 0.5, h


class Net(nn.Module):
    def __init__(self, dims=(8, 16)):
        super().__init__()
        self.stages = nn.ModuleList([Stage(i, o) for i, o in zip((3,) + dims[:-1], dims)])
        self.norm = nn.ModuleList([nn.LayerNorm(d) for d in dims])
        self.heads = nn.ModuleList([nn.Linear(d, 5) for d in dims])

    def forward_features(self, x: torch.Tensor) -> List[torch.Tensor]:
        features = []
        for stage, norm in zip(self.stages, self.norm):
            _, x, h = stage(x)
            features.append(norm(h.transpose(1, 2)).transpose(1, 2))
        return features

    def forward_head(self, x: List[torch.Tensor]) -> torch.Tensor:
        x = [t.mean(dim=-1) for t in x]
        logits = [head(x[i]) for i, head in enumerate(self.heads)]
        return torch.stack(logits, dim=0).sum(dim=0)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

'''


def test_stages_returning_tuples_of_mixed_layouts(tmp_path):
    cls = "Net"
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, cls, [x], jit=jit)
        t_grad, j_grad = input_grads(result, tmod, jmod, wmod, cls, x, jit=jit)
        np.testing.assert_allclose(j_grad, t_grad, rtol=1e-4, atol=1e-4)
