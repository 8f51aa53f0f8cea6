"""A class deriving from a torch class the translator does not support next to
module bases it does: the unsupported base becomes ``nnx.Module`` once, after
the others (``nnx.Module`` before one of its subclasses has no consistent
MRO: the file failed to import), marked above the class with a diagnostic;
the rest of the class translates and runs (transformers'
``class LlamaForQuestionAnswering(GenericForQuestionAnswering, LlamaPreTrainedModel)``).
"""

from __future__ import annotations

import numpy as np

from harness import run_parity, translate_files

SOURCE = """import torch
import torch.nn as nn


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x) * 2.0


class M(torch.distributions.Distribution, Base):
    pass


class Two(torch.distributions.Distribution, torch.distributions.Transform, Base):
    pass
"""


def test_unsupported_base_next_to_a_module_base(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)  # imports: the MRO holds
    assert [d.code for d in result.diagnostics] == ["T2N004"] * 3, result.diagnostics
    assert result.todo_count == 3 == result.code.count("# TODO(torch2nnx): T2N004 subclassing torch.distributions.")
    assert "class M(Base, nnx.Module):" in result.code
    assert "class Two(Base, nnx.Module):" in result.code  # one nnx.Module for two unsupported bases
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "M", [x])
