"""Checks and flags torch evaluates at run time: ``torch._assert`` /
``torch._assert_async`` (timm gemma4_vit's pooling check) are checked on concrete
values, eagerly and on shapes under jit, and never dropped silently; a traced
condition under ``nnx.jit`` is not checked. ``F.interpolate``'s ``antialias`` given
as an attribute (timm naflexvit's pos-embed resize) is decided at run time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import make_input, run_parity, translate_files

ASSERTS = '''
import torch
import torch.nn as nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        torch._assert(x.shape[-1] == 4, "last dim must be 4")
        torch._assert_async(torch.all(x > -100.0))
        torch._assert_async((x < 100.0).all(), "values too large")
        return self.proj(x)
'''


def _translated(tmp_path):
    result, tmod, jmod, wmod = translate_files(ASSERTS, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert result.code.count("torch_assert(") == 2, result.code  # the helper and its call
    assert result.code.count("torch_assert_async(") == 3, result.code
    return result, tmod, jmod, wmod


def test_asserts_at_parity_eager_and_jit(tmp_path):
    result, tmod, jmod, wmod = _translated(tmp_path)
    x = make_input("float32[3,4]", np.random.default_rng(0))
    run_parity(result, tmod, jmod, wmod, "M", [x])
    run_parity(result, tmod, jmod, wmod, "M", [x], jit=True)


def test_failing_assert_raises_eagerly(tmp_path):
    from flax import nnx

    _, tmod, jmod, _ = _translated(tmp_path)
    bad = np.full((2, 4), 500.0, np.float32)
    with pytest.raises(RuntimeError, match="values too large"):  # torch._assert_async's error class
        tmod.M()(torch.from_numpy(bad))
    model = jmod.M(rngs=nnx.Rngs(0))
    with pytest.raises(RuntimeError, match="values too large"):
        model(bad)
    # a shape condition is concrete under jit too: still checked there
    with pytest.raises(AssertionError, match="last dim must be 4"):
        nnx.jit(lambda m, v: m(v))(model, np.zeros((2, 4), np.float32)[:, :3] @ np.ones((3, 5), np.float32))


def test_traced_condition_is_not_checked_under_jit(tmp_path):
    from flax import nnx

    _, _, jmod, _ = _translated(tmp_path)
    model = jmod.M(rngs=nnx.Rngs(0))
    out = nnx.jit(lambda m, v: m(v))(model, np.full((2, 4), 500.0, np.float32))
    assert out.shape == (2, 4)


RESIZE = '''
import torch.nn as nn
import torch.nn.functional as F


class M(nn.Module):
    def __init__(self, mode="bilinear", align_corners=False, antialias=False):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.mode, self.align_corners, self.antialias = mode, align_corners, antialias

    def forward(self, x):
        return F.interpolate(self.conv(x), size=(4, 6), mode=self.mode, align_corners=self.align_corners,
                             antialias=self.antialias)
'''


@pytest.mark.parametrize("kwargs", [dict(mode="bicubic", antialias=True), dict(mode="bilinear", antialias=True),
                                    dict(mode="bicubic", align_corners=True, antialias=True),
                                    dict(mode="bicubic", antialias=False)], ids=str)
def test_antialias_flag_at_run_time(kwargs, tmp_path):
    result, tmod, jmod, wmod = translate_files(RESIZE, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    x = make_input("float32[2,3,13,9]", np.random.default_rng(1))
    run_parity(result, tmod, jmod, wmod, "M", [x], kwargs=kwargs)
    run_parity(result, tmod, jmod, wmod, "M", [x], kwargs=kwargs, jit=True)
