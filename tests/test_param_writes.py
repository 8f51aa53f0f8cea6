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


RETURNS_IT = textwrap.dedent('''
    import torch
    from torch import nn


    def _add_shortcut(x: torch.Tensor, shortcut: torch.Tensor, residual_with_cls_embed: bool):
        if residual_with_cls_embed:
            x.add_(shortcut)
        else:
            x[:, :, 1:, :] += shortcut[:, :, 1:, :]
        return x


    class Net(nn.Module):
        def __init__(self, c: int = 8, with_cls: bool = True):
            super().__init__()
            self.q = nn.Linear(c, c)
            self.v = nn.Linear(c, c)
            self.with_cls = with_cls

        def forward(self, x):
            q = self.q(x).reshape(x.shape[0], x.shape[1], 2, -1).transpose(1, 2)
            v = self.v(x).reshape(x.shape[0], x.shape[1], 2, -1).transpose(1, 2)
            x = (q @ q.transpose(2, 3)).softmax(-1) @ v
            _add_shortcut(x, q, self.with_cls)
            return x.transpose(1, 2).flatten(2)
''')


def test_a_function_returning_the_argument_it_writes_rebinds_a_statement_call(tmp_path):
    """torchvision MViT's ``_add_shortcut(x, q, ...)`` (``x.add_(q); return x``)
    called as a statement: before, the residual was lost (mvit_v2_s off by 1.1)."""
    result, tmod, jmod, wmod = translate_files(RETURNS_IT, tmp_path)
    assert "x = _add_shortcut(x, q, self.with_cls)" in result.code, result.code
    x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32)
    for with_cls in (True, False):
        for jit in (False, True):
            assert run_parity(result, tmod, jmod, wmod, "Net", [x], kwargs={"with_cls": with_cls}, jit=jit) < 1e-4
