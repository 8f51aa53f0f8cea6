"""``torch2nnx coverage`` (torch2nnx/coverage.py): the torch APIs a code base uses."""

from __future__ import annotations

import json

from click.testing import CliRunner

from torch2nnx.cli import main

MODEL = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models._api import WeightsEnum

from .layers import Block


class Net(nn.Module):
    def __init__(self, weights: WeightsEnum = None):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(4, 4, 3, padding_mode="circular")
        self.block = Block()

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = self.block(self.conv2(x))
        y = torch.histc(x)
        z = x.pin_memory()
        return x.view(x.size(0), -1), y, z
'''

LAYERS = '''\
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return nn.functional.relu(self.bn(x))
'''


def make(tmp_path):
    pkg = tmp_path / "covpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text(MODEL)
    (pkg / "layers.py").write_text(LAYERS)
    return pkg


def test_coverage_counts_and_support(tmp_path):
    pkg = make(tmp_path)
    r = CliRunner().invoke(main, ["coverage", str(pkg), "--format", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    apis = {a["name"]: a for a in data["apis"]}
    got = {n: (a["uses"], a["supported"], a["todos"]) for n, a in apis.items()}
    assert got == {
        "torch.nn.Conv2d": (2, "yes", 1),  # supported, but padding_mode="circular" gets a TODO
        "torch.nn.BatchNorm2d": (1, "yes", 0),
        "torch.nn.Module": (2, "yes", 0),
        "torch.nn.functional.relu": (2, "yes", 0),
        "torch.histc": (1, "no", 1),
        "Tensor.pin_memory": (1, "no", 1),  # no rule knows it: found by translating
        "Tensor.view": (1, "yes", 0),
        "Tensor.size": (1, "yes", 0),
        "torchvision.models._api.WeightsEnum": (1, "kept", 0),  # torchvision plumbing stays imported
    }, got
    assert apis["torch.nn.functional.relu"]["files"] == [str(pkg / "layers.py"), str(pkg / "model.py")]
    # Block is a file of the code base, not a torch API
    assert not any("Block" in n for n in apis)
    # unsupported first, then by uses
    assert [a["name"] for a in data["apis"]][:2] == ["Tensor.pin_memory", "torch.histc"]


def test_coverage_text_summary(tmp_path):
    pkg = make(tmp_path)
    r = CliRunner().invoke(main, ["coverage", str(pkg / "model.py"), str(pkg / "layers.py")])
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["torch", "API", "uses", "files", "supported", "TODOs"]
    assert lines[-1] == ("9 torch APIs, 12 uses in 2 files: 7 supported or kept (83% of uses), 2 unsupported; "
                         "3 uses would get a TODO.")
    fft = next(l for l in lines if l.startswith("torch.histc"))
    assert fft.split() == ["torch.histc", "1", "1", "no", "1"]


def test_coverage_without_translating(tmp_path):
    pkg = make(tmp_path)
    r = CliRunner().invoke(main, ["coverage", str(pkg), "--no-translate", "--format", "json"])
    apis = {a["name"]: a for a in json.loads(r.stdout)["apis"]}
    assert "Tensor.pin_memory" not in apis and apis["torch.nn.Conv2d"]["todos"] == 0
    assert apis["torch.histc"]["supported"] == "no"


def test_coverage_reports_unreadable_files(tmp_path):
    pkg = make(tmp_path)
    (pkg / "bad.py").write_text("def f(:\n")
    r = CliRunner().invoke(main, ["coverage", str(pkg)])
    assert r.exit_code == 123
    assert f"error: cannot scan {pkg / 'bad.py'}" in r.stderr
    assert r.stdout.splitlines()[-1].endswith("1 file could not be read.")


def test_rules_lists_the_supported_apis():
    from torch2nnx.rules import registry

    r = CliRunner().invoke(main, ["rules", "--format", "text"])
    assert r.exit_code == 0
    assert sorted(r.stdout.split()) == sorted(x.name for x in registry.all_rules())


CHECKPOINTS = '''\
import safetensors.torch
import torch


def load(path):
    if path.endswith(".safetensors"):
        return safetensors.torch.load_file(path)
    return torch.load(path, map_location="cpu")


def save(sd, path):
    torch.save(sd, path)
'''


def test_attribute_names_are_no_torch_use_and_save_load_are_translated(tmp_path):
    """``safetensors.torch`` is safetensors', not a use of torch; torch.save / torch.load
    are translated by their own pass (translator/state_io.py), so supported."""
    (tmp_path / "ckpt.py").write_text(CHECKPOINTS)
    out = CliRunner().invoke(main, ["coverage", "--format", "json", str(tmp_path / "ckpt.py")])
    apis = {a["name"]: a for a in json.loads(out.output)["apis"]}
    assert "torch" not in apis, apis
    assert apis["torch.load"]["supported"] == "yes" and apis["torch.save"]["supported"] == "yes"
    assert apis["torch.load"]["todos"] == 0


def test_classes_of_followed_package_files_are_code_the_run_translates():
    """A model file is translated as ``translate`` does it, with the files of its
    own package it imports followed: torchvision's ``ops.misc`` classes are code
    of that run (translated with it), not torch APIs without a row; and the
    file's uses are matched with what that run marks."""
    from pathlib import Path

    import torchvision

    from torch2nnx import coverage

    src = Path(torchvision.__file__).parent / "models" / "mobilenetv2.py"
    cov = coverage.scan([src])
    assert cov.files == [str(src)] and not cov.failed
    names = set(cov.apis)
    assert not any(n.startswith("torchvision.ops") for n in names), sorted(names)
    assert cov.apis["torch.nn.Conv2d"].support == "yes" and cov.apis["torch.nn.Conv2d"].todos == 0
    assert not [a.name for a in cov.apis.values() if a.support == "no"]
    # names only (nothing translated, nothing followed): the imported class counts as a torchvision name
    alone = coverage.scan([src], translate_too=False)
    assert "torchvision.ops.misc.Conv2dNormActivation" in alone.apis
