"""A Sequential a builder fills with layers of a factory it is handed
(lucidrains' mlp-mixer: ``FeedForward(dim, hidden, dense=partial(nn.Conv1d,
kernel_size=1))`` mixing tokens, ``dense=nn.Linear`` mixing channels), held by
a wrapper that calls it on torch-order tokens: each of its layers runs as torch
runs it (runtime ``torch_order_layer``). Written from scratch; parity with
perturbed weights, eval, eagerly and under ``nnx.jit``."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = textwrap.dedent('''
    from functools import partial

    import torch.nn as nn


    class PreNorm(nn.Module):
        def __init__(self, dim, fn):
            super().__init__()
            self.fn = fn
            self.norm = nn.LayerNorm(dim)

        def forward(self, x):
            return self.fn(self.norm(x)) + x


    def feed_forward(dim, hidden, dense=nn.Linear):
        return nn.Sequential(dense(dim, hidden), nn.GELU(), dense(hidden, dim))


    class Mixer(nn.Module):
        def __init__(self, tokens=6, dim=8, depth=2):
            super().__init__()
            chan_first, chan_last = partial(nn.Conv1d, kernel_size=1), nn.Linear
            self.blocks = nn.Sequential(*[nn.Sequential(
                PreNorm(dim, feed_forward(tokens, 12, chan_first)),
                PreNorm(dim, feed_forward(dim, 4, chan_last)),
            ) for _ in range(depth)])
            self.head = nn.Linear(dim, 3)

        def forward(self, x):
            return self.head(self.blocks(x).mean(1))
''')


@pytest.mark.parametrize("jit", [False, True])
def test_token_and_channel_mixing(tmp_path, jit):
    result, torch_mod, nnx_mod, weights_mod = translate_files(SOURCE, tmp_path)
    x = np.random.RandomState(0).randn(2, 6, 8).astype(np.float32)
    assert run_parity(result, torch_mod, nnx_mod, weights_mod, "Mixer", [x], jit=jit) < 1e-4
