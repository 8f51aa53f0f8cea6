"""torch idioms that run in eval mode but broke under nnx.jit or at run time
(timm corpus): a slot holding either a stateless layer or a plain function,
``self.forward = self.<method>`` chosen in ``__init__``.
Each model is compared with torch eagerly and under ``nnx.jit``."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def parity(source, tmp_path, cls, inputs, kwargs=None):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(source), tmp_path)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, cls, inputs, kwargs=kwargs, jit=jit)
    return result


POOL_SLOT = """
    class Down(nn.Module):
        def __init__(self, c, stride):
            super().__init__()
            if stride > 1:
                pool_fn = nn.AvgPool2d if stride == 2 else nn.MaxPool2d
                self.pool = pool_fn(2, stride, ceil_mode=True)
            else:
                self.pool = nn.Identity()
            self.conv = nn.Conv2d(c, c, 1)

        def forward(self, x):
            return self.conv(self.pool(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Down(4, 2)
            self.b = Down(4, 1)

        def forward(self, x):
            return self.b(self.a(x))
"""


def test_stateless_layer_in_a_slot_also_given_a_function_is_static(tmp_path):
    """``self.pool = pool_fn(...)`` (a stateless layer, a function in NNX) on one path and
    ``nn.Identity()`` on the other: the slot holds data only when the value does, so
    ``nnx.jit`` does not take the function for an array (timm's NF-Nets)."""
    parity(POOL_SLOT, tmp_path, "Net", [rand(2, 4, 9, 9)])
