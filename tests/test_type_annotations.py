"""torch's types in annotations and the ``nn.Buffer`` attribute form: the code
transformers and timm write (``input_ids: torch.LongTensor``, ``fused_attn:
torch.jit.Final[bool]``, ``device: Optional[torch.device] = None``,
``self.scale = nn.Buffer(t)``) translates with no torch reference left, and
the buffers it makes are ported and used."""

from __future__ import annotations

import numpy as np

from harness import run_parity, translate_files

SOURCE = '''
from typing import Optional

import torch
from torch import nn


class M(nn.Module):
    fused: torch.jit.Final[bool]
    ids_type: type = torch.LongTensor

    def __init__(self, n: int = 4, device: Optional[torch.device] = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.fused = True
        self.lin = nn.Linear(n, n, device=device, dtype=dtype)
        self.scale = nn.Buffer(torch.arange(n, dtype=dtype) + 1.0)
        self.shift = nn.Buffer(torch.ones(n) * 0.5, persistent=False)

    def forward(self, x: torch.FloatTensor, mask: Optional[torch.BoolTensor] = None) -> torch.FloatTensor:
        y = self.lin(x) * self.scale + self.shift
        return y if mask is None else y * mask
'''


def test_annotations_and_nn_buffer_translate_and_match(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "import torch" not in result.code and "torch." not in result.code, result.code
    assert "fused: typing.Final[bool]" in result.code
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    # strict loading: the persistent buffer is ported (and perturbed), the other one is not in the state_dict
    assert "NonPersistentBuffer(" in result.code and "scale = Buffer(" in result.code
    run_parity(result, tmod, jmod, wmod, "M", [x])
    run_parity(result, tmod, jmod, wmod, "M", [x], jit=True)
