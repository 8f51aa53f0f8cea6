"""A tensor argument written in place by a method that returns nothing
(translator/param_writes.py; timm's NaFlexViT ``_apply_learned_pos_embed``):
the translation returns it and the caller's statement rebinds the name, so
the write reaches the caller as torch's does. Before, the position embedding
was lost without a marker."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

SOURCE = textwrap.dedent('''
    import torch
    from torch import nn


    def add_bias_(x, b) -> None:
        x.add_(b)


    class Embed(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(6, 8)
            self.pos = nn.Parameter(torch.randn(1, 5, 8))
            self.bias = nn.Parameter(torch.randn(8))

        def _apply_pos(self, x, scale: float) -> None:
            if scale == 0:
                return
            x.add_(self.pos * scale)

        def _scaled(self, x):
            x.mul_(0.5)
            return x * 3.0  # returns a value: left as it was

        def forward(self, x):
            x = self.proj(x)
            self._apply_pos(x, 2.0)
            add_bias_(x, self.bias)
            return self._scaled(x).relu()
''')


def test_an_argument_written_in_place_reaches_the_caller(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert result.todo_count == 0, result.code
    assert "x = self._apply_pos(x, 2.0)" in result.code and "x = add_bias_(x, self.bias)" in result.code
    assert "return x\n" in result.code.split("def _apply_pos")[1].split("def ")[0]
    x = np.random.default_rng(0).standard_normal((2, 5, 6)).astype(np.float32)
    assert run_parity(result, tmod, jmod, wmod, "Embed", [x]) < 1e-4
    assert run_parity(result, tmod, jmod, wmod, "Embed", [x], jit=True) < 1e-4
