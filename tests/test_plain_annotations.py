"""Parameters annotated with a type that is never a tensor -- ``Tuple[int, int,
int]``, ``List[int]``, ``Sequence[float]`` as well as ``int`` or ``Dict[str,
Any]`` -- are never transposed. torchvision's MViT hands ``thw: Tuple[int, int,
int]`` from block to block; the dataflow took it for a permuted tensor and
wrote ``jnp.transpose(thw, (0, 2, 1, 3))`` (and transposed the ints unpacked
from it), failing at run time."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from harness import run_parity, translate_files

SOURCE = '''
from typing import List, Tuple

import torch
from torch import nn


class Pool(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.proj = nn.Linear(c, c)

    def forward(self, x: torch.Tensor, thw: Tuple[int, int, int], scale: List[float]) -> torch.Tensor:
        t, h, w = thw
        x = self.proj(x.transpose(1, 2)).transpose(1, 2)  # (B, C, N), a held permutation
        x = x.reshape(x.shape[:2] + thw) * scale[0]
        return x.flatten(2) + (1.0 - t) * h * w


class M(nn.Module):
    def __init__(self, c: int = 4):
        super().__init__()
        self.pool = Pool(c)

    def forward(self, x):
        return self.pool(x, (2, 3, 1), [0.5])
'''


def test_tuple_of_ints_parameter_is_never_transposed(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert "transpose(thw" not in result.code and "transpose(scale" not in result.code, result.code
    x = np.random.default_rng(0).standard_normal((2, 4, 6)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "M", [x])
    run_parity(result, tmod, jmod, wmod, "M", [x], jit=True)


def test_torchvision_mvit_thw_is_not_transposed(tmp_path):
    import torchvision.models.video.mvit as mvit

    out = tmp_path / "mvit_nnx.py"
    subprocess.run([sys.executable, "-m", "torch2nnx", "translate", mvit.__file__, "-o", str(out), "--no-follow"],
                   check=True, capture_output=True)
    code = out.read_text()
    assert "block(x, thw)" in code and "transpose(thw" not in code
