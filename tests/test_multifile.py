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


NORM_FN = '''import torch


import torch.nn.functional as F


def rms_norm2d(x, weight, eps: float = 1e-5):
    v = x ** 2
    v = torch.mean(v, dim=1, keepdim=True)
    x = x * torch.rsqrt(v + eps)
    return x * weight.reshape(1, -1, 1, 1)


def avg_pool2d_same(x, k: int = 2):
    x = F.pad(x, (0, 1, 0, 1))
    return F.avg_pool2d(x, k, 1)
'''

NORM_MODEL = '''import torch
import torch.nn as nn

from mpkg3.fast_norm import avg_pool2d_same, rms_norm2d


class PoolSame(nn.Module):
    def forward(self, x):
        return avg_pool2d_same(x)


class RmsNorm2d(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))

    def forward(self, x):
        return rms_norm2d(x, self.weight)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = RmsNorm2d(4)
        self.pool = PoolSame()
        self.conv2 = nn.Conv2d(4, 5, 1)

    def forward(self, x):
        return self.conv2(self.norm(self.pool(self.conv(x))))
'''


def test_sibling_function_with_its_layouts(tmp_path, monkeypatch):
    """A pooling module hands x to another file's avg_pool2d_same (pads and pools:
    channels-last, like timm's conv2d_same) and timm's RmsNorm2d to fast_norm.py's rms_norm2d (a channel reduction
    in torch order): the caller knows the layouts the other file's functions take
    and return, instead of handing every function torch order."""
    pkg = tmp_path / "mpkg3"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "fast_norm.py").write_text(NORM_FN)
    (pkg / "model.py").write_text(NORM_MODEL)
    files = {"mpkg3.fast_norm": (str(pkg / "fast_norm.py"), NORM_FN), "mpkg3.model": (str(pkg / "model.py"), NORM_MODEL)}
    stems = {"mpkg3.fast_norm": "fast_norm_nnx", "mpkg3.model": "model_nnx"}
    results = translate_many(files, stems)
    res = results["mpkg3.model"]
    for mod, r in results.items():
        (tmp_path / f"{stems[mod]}.py").write_text(r.code)
        (tmp_path / f"{stems[mod]}_weights.py").write_text(r.weights_code)
    monkeypatch.syspath_prepend(str(tmp_path))
    tmod = importlib.import_module("mpkg3.model")
    jmod = load_module(tmp_path / "model_nnx.py")
    wmod = load_module(tmp_path / "model_nnx_weights.py")
    run_parity(res, tmod, jmod, wmod, "Net", [make_input("float32[2,3,6,6]", np.random.default_rng(0))])
    run_parity(res, tmod, jmod, wmod, "Net", [make_input("float32[2,3,6,6]", np.random.default_rng(0))], jit=True)


def test_results_cross_process_boundaries():
    """Parallel runs (`-j 2`, the corpus runner) send each file's result back
    through pickle: a function returning a layer must not put a row's closures
    into what the file offers the others."""
    import pickle

    import torch2nnx

    source = ("import torch.nn as nn\n\n\ndef conv_class(kind):\n"
              "    return nn.Conv2d if kind == 'conv' else nn.Identity\n\n\n"
              "class Net(nn.Module):\n    def __init__(self):\n"
              "        super().__init__()\n        self.c = conv_class('conv')(3, 4, 3)\n\n"
              "    def forward(self, x):\n        return self.c(x)\n")
    result = torch2nnx.translate(source, "model.py", module_name="model_nnx")
    assert pickle.loads(pickle.dumps(result)).code == result.code
