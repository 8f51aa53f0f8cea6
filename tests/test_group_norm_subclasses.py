"""Subclasses of GroupNorm (timm's ``GroupNorm1``) and containers holding
another file's classes. Torch vs NNX, perturbed weights, eval and nnx.jit.

- A GroupNorm subclass whose forward hands its input to a helper first
  (``fast_group_norm(x, ...)`` behind a flag, ``F.group_norm`` otherwise): the
  helper's torch order used to decide the input's layout, so callers that
  cannot see the class (a ``norm_layer`` factory) handed channels-last maps to
  code reading them as NCHW. The input of such a subclass is an image batch,
  channels-last (the row's ``image_rank``), unless its callers say otherwise.
- ``nn.Sequential(OtherFilesClass(...), conv)``: the container hands the class
  what it holds and tells the class's file so (a call site for its next pass).
- A GroupNorm layer handed a torch-order tensor of known rank moves it
  channels-last first (before, NNX normalised its last spatial axis).
"""

from __future__ import annotations

import importlib
import textwrap

import numpy as np
import pytest

from harness import make_input, run_parity, translate_files
from test_layout_forward import HEADER, rand
from torch2nnx.api import translate_many

FAST = """
def fast_gn(x, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    if torch.jit.is_scripting():
        return F.group_norm(x, num_groups, weight, bias, eps)
    return F.group_norm(x, num_groups, weight, bias, eps)
"""

NORM = """
class GroupNorm1(nn.GroupNorm):
    def __init__(self, num_channels, **kwargs):
        super().__init__(1, num_channels, **kwargs)
        self.fast = False

    def forward(self, x):
        if self.fast:
            return fast_gn(x, self.num_groups, self.weight, self.bias, self.eps)
        else:
            return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
"""

NET = """
class Net(nn.Module):
    def __init__(self, layer, fast=False):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.norm = layer(6)
        self.norm.fast = fast
        self.conv = nn.Conv2d(6, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(self.norm(self.stem(x)))


class Flat(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)
        self.norm = nn.GroupNorm(2, 4)

    def forward(self, x):
        return self.norm(self.fc(x).reshape(x.shape[0], 4, 3, 5))
"""


@pytest.mark.parametrize("fast", [False, True])
def test_group_norm_subclass_reached_as_a_value_takes_channels_last(tmp_path, fast):
    src = HEADER + textwrap.dedent(FAST) + textwrap.dedent(NORM) + textwrap.dedent(NET)
    result, tmod, jmod, wmod = translate_files(src, tmp_path)

    def kwargs(mod, rngs):
        return {"layer": mod.GroupNorm1, "fast": fast}

    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 5, 7)], kwargs=kwargs, jit=jit)
    s = result.layout_of("GroupNorm1")
    assert s is not None and s.takes["x"].channels_last


def test_group_norm_layer_handed_torch_order(tmp_path):
    """A reshape's output (torch order, rank 4) handed to nn.GroupNorm."""
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(NET), tmp_path)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Flat", [rand(2, 12, 5)], jit=jit)


MODEL = """import torch.nn as nn

from .norm import GroupNorm1


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.seen = nn.Sequential(GroupNorm1(6), nn.Conv2d(6, 4, 3, padding=1))

    def forward(self, x):
        return self.seen(self.stem(x))
"""


def test_container_hands_another_files_class_its_layout(tmp_path, monkeypatch):
    pkg = tmp_path / "gnpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    srcs = {
        "gnpkg.fast": HEADER + textwrap.dedent(FAST),
        "gnpkg.norm": HEADER + "from .fast import fast_gn\n\n" + textwrap.dedent(NORM),
        "gnpkg.model": MODEL,
    }
    files = {}
    for mod, src in srcs.items():
        path = pkg / (mod.split(".")[1] + ".py")
        path.write_text(src)
        files[mod] = (str(path), src)
    results = translate_many(files, {m: m + "_nnx" for m in srcs})
    for mod, r in results.items():
        (pkg / f"{mod.split('.')[1]}_nnx.py").write_text(r.code)
        (pkg / f"{mod.split('.')[1]}_nnx_weights.py").write_text(r.weights_code)
    monkeypatch.syspath_prepend(str(tmp_path))
    tmod = importlib.import_module("gnpkg.model")
    jmod = importlib.import_module("gnpkg.model_nnx")
    wmod = importlib.import_module("gnpkg.model_nnx_weights")
    x = make_input("float32[2,3,6,6]", np.random.default_rng(0))
    for jit in (False, True):
        run_parity(results["gnpkg.model"], tmod, jmod, wmod, "Net", [x], jit=jit)
