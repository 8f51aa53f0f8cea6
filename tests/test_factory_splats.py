"""torch's factory keywords handed on in a dict (``dd = {'device': device,
'dtype': dtype}``) that the function also hands on as a value
(``self._build_heads(num_classes, dd)``, timm's EfficientViM): ``**dd`` is
still written out where it is splatted (``splats.py``), so ``torch.ones(n,
**dd)`` is ``jnp.ones`` and no torch tensor reaches ``nnx.Param``; a layer row
splatted with a dict only known at run time (the helper's ``dd`` parameter) is
built by NNX with the splat checked by ``factory_kwargs`` (``factory_splats.py``)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

HEADS = HEADER + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, num_classes=3, device=None, dtype=None):
            super().__init__()
            dd = {'device': device, 'dtype': dtype}
            self.fc = nn.Linear(5, 4, **dd)
            self.heads = self._build_heads(num_classes, dd)
            self.weights = nn.Parameter(torch.ones(2, **dd) * 0.5)

        def _build_heads(self, num_classes, dd=None):
            dd = dd or {}
            return nn.ModuleList([nn.Linear(4, num_classes, **dd) for _ in range(2)])

        def forward(self, x):
            h = self.fc(x)
            w = self.weights.softmax(-1)
            return self.heads[0](h) * w[0] + self.heads[1](h) * w[1]
""")


def test_factory_dict_handed_on_and_splatted(tmp_path):
    result, tmod, jmod, wmod = translate_files(HEADS, tmp_path)
    assert result.todo_count == 0, result.code
    net = result.code.split("class Net")[1]
    assert "torch.ones" not in net and "(nn.Linear" not in net and "factory_kwargs(dd" in net, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)],
               jit=True)


def test_factory_kwargs_refuses_a_layer_parameter():
    from torch2nnx.runtime.helpers import factory_kwargs

    assert factory_kwargs({"device": "cpu", "dtype": None}, "torch.nn.Linear") == {}
    with pytest.raises(TypeError, match="bias"):
        factory_kwargs({"bias": False}, "torch.nn.Linear")
