"""A classmethod that builds its class (efficientnet_pytorch's
``EfficientNet.from_name``: ``model = cls(blocks_args, params)``), called from
another file of the run: the classmethod takes rngs and hands them to ``cls(...)``,
and the caller hands it ours. Before, ``cls(...)`` was built without rngs and the
caller's builder took none (``build() got an unexpected keyword argument 'rngs'``).
Torch vs NNX, perturbed weights, outputs and gradients, eager and nnx.jit."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import torch

from harness import parity_in_package
from test_workflow import run

torch.set_num_threads(1)

MODEL = textwrap.dedent('''\
    from torch import nn


    class Net(nn.Module):
        def __init__(self, width, classes):
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3, padding=1)
            self.head = nn.Linear(width, classes)

        @classmethod
        def from_name(cls, name, classes=4):
            width = {"small": 6, "large": 12}[name]
            return cls(width, classes)

        def forward(self, x):
            return self.head(self.conv(x).mean((2, 3)))
''')

DRIVER = textwrap.dedent('''\
    from torch import nn

    from .model import Net


    def small():
        return Net.from_name("small", classes=5)


    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = Net.from_name("large")

        def forward(self, x):
            return self.net(x) * 2.0
''')


@pytest.fixture
def translated(tmp_path, monkeypatch):
    pkg = tmp_path / "clsmpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text(MODEL)
    (pkg / "driver.py").write_text(DRIVER)
    r = run("translate", pkg / "driver.py", "--suffix", "_nnx", "--no-cache")
    assert r.exit_code == 0, r.output
    assert "; 0 TODOs." in r.output, r.output
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for name in list(sys.modules):
        if name.startswith("clsmpkg"):
            del sys.modules[name]


@pytest.mark.parametrize("jit", [False, True])
def test_a_classmethod_building_its_class_takes_and_hands_on_rngs(translated, jit):
    model = (translated / "model_nnx.py").read_text()
    assert "return cls(width, classes, rngs=rngs)" in model, model
    assert "Net.from_name(\"small\", classes=5, rngs=rngs)" in (translated / "driver_nnx.py").read_text()
    image = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    parity_in_package("clsmpkg.driver", "Wrapped", image, image.transpose(0, 2, 3, 1), jit)
