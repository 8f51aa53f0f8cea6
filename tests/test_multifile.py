"""Files translated together (translate_many): imports between them, a
package's re-exports, and layouts that cross the file boundary."""

from __future__ import annotations

import importlib

import numpy as np

from harness import load_module, make_input, run_parity
from torch2nnx.api import translate_many

GATE = '''import torch
from torch import nn


class Gate(nn.Module):
    """Reduces over channels: wrong if handed channels-last data unawares."""

    def forward(self, x):
        return x * torch.sigmoid(x.mean(1, keepdim=True)) + x[:, :1]
'''

MODEL = '''import torch.nn as nn

from mpkg2.ops import Gate


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.gate = Gate()

    def forward(self, x):
        return self.gate(self.conv(x))
'''


def test_reexported_sibling_class_with_its_layouts(tmp_path, monkeypatch):
    """``from mpkg2.ops import Gate`` names ops/gate.py's class through the
    package's __init__: it imports the translation, and the caller hands it
    the layout its translation expects (a channel reduction in torch order)."""
    pkg = tmp_path / "mpkg2"
    (pkg / "ops").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "ops" / "__init__.py").write_text("from .gate import Gate\n")
    (pkg / "ops" / "gate.py").write_text(GATE)
    (pkg / "model.py").write_text(MODEL)
    files = {"mpkg2.ops.gate": (str(pkg / "ops" / "gate.py"), GATE), "mpkg2.model": (str(pkg / "model.py"), MODEL)}
    results = translate_many(files, {"mpkg2.ops.gate": "gate_nnx", "mpkg2.model": "model_nnx"})
    res = results["mpkg2.model"]
    assert "from gate_nnx import Gate" in res.code, res.code
    assert not any(d.needs_todo for r in results.values() for d in r.diagnostics)
    for mod, r in results.items():
        stem = {"mpkg2.ops.gate": "gate_nnx", "mpkg2.model": "model_nnx"}[mod]
        (tmp_path / f"{stem}.py").write_text(r.code)
        (tmp_path / f"{stem}_weights.py").write_text(r.weights_code)
    monkeypatch.syspath_prepend(str(tmp_path))
    tmod = importlib.import_module("mpkg2.model")
    jmod = load_module(tmp_path / "model_nnx.py")
    wmod = load_module(tmp_path / "model_nnx_weights.py")
    run_parity(res, tmod, jmod, wmod, "Net", [make_input("float32[2,3,6,6]", np.random.default_rng(0))])
