"""Real code spans packages: relative imports, followed imports, re-exports,
import cycles; and one statement the translator gets wrong never costs the file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import torch2nnx
from torch2nnx import project
from torch2nnx.follow import Reexports, followed
from torch2nnx.project import dependency_levels, file_unit, looks_translated

from harness import parity_beside, perturb

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "fixtures" / "pkg_relative"


@pytest.fixture
def pkg(tmp_path):
    shutil.copytree(PKG, tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*_nnx*.py"))
    return tmp_path / "src"


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "torch2nnx", *args, "--no-cache"], cwd=cwd,
                          capture_output=True, text=True)


def test_next_to_source_resolves_relative_imports_and_follows_them(pkg):
    """`torch2nnx translate relpkg/model.py`: the translation sits next to its
    source, keeps relative imports, imports the translation of the layers file
    it needs (translated in the same run, unasked), and matches torch."""
    p = _cli("translate", "relpkg/model.py", cwd=pkg)
    assert p.returncode == 0, p.stderr
    code = (pkg / "relpkg" / "model_nnx.py").read_text()
    assert "from .layers_nnx import ConvBN" in code
    assert "from .registry import register" in code  # plain Python: kept, relative
    assert (pkg / "relpkg" / "layers_nnx.py").is_file()
    assert not (pkg / "relpkg" / "registry_nnx.py").exists()  # no torch: imported as it is
    parity_beside(pkg, "relpkg.model", (2, 3, 8, 8), args="5")


def test_no_follow(pkg):
    p = _cli("translate", "relpkg/model.py", "--no-follow", cwd=pkg)
    assert p.returncode == 0, p.stderr
    assert (pkg / "relpkg" / "model_nnx.py").is_file()
    assert not (pkg / "relpkg" / "layers_nnx.py").exists()


def test_translations_are_never_translated_again(pkg):
    assert _cli("translate", "relpkg/model.py", cwd=pkg).returncode == 0
    assert looks_translated(pkg / "relpkg" / "model_nnx.py")
    assert looks_translated(pkg / "relpkg" / "model_nnx_weights.py")
    assert not looks_translated(pkg / "relpkg" / "model.py")
    p = _cli("translate", *sorted(str(f.relative_to(pkg)) for f in (pkg / "relpkg").glob("*.py")), cwd=pkg)
    assert p.returncode == 0, p.stderr
    assert not list((pkg / "relpkg").glob("*_nnx_nnx*.py"))


def test_reexports_name_the_defining_file(tmp_path):
    """`from pkg.layers import ConvBN`, re-exported by layers/__init__.py from
    layers/conv.py: the run follows conv.py, not the package's __init__."""
    root = tmp_path / "r"
    (root / "zoo" / "layers").mkdir(parents=True)
    (root / "zoo" / "__init__.py").write_text("")
    (root / "zoo" / "layers" / "__init__.py").write_text("from .conv import ConvBN\nfrom .other import *\n")
    (root / "zoo" / "layers" / "conv.py").write_text((PKG / "relpkg" / "layers.py").read_text())
    (root / "zoo" / "layers" / "other.py").write_text("import torch.nn as nn\n\n\nclass Unused(nn.Module):\n    pass\n")
    (root / "zoo" / "net.py").write_text(
        "import torch.nn as nn\nfrom zoo.layers import ConvBN\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.a = ConvBN(3, 4)\n"
        "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n"
        "        return self.fc(self.a(x).mean((2, 3)))\n")
    res = Reexports(root)
    assert res.resolve("zoo.layers.ConvBN") == "zoo.layers.conv.ConvBN"
    assert res.resolve("zoo.layers.Unused") == "zoo.layers.other.Unused"  # through a star import
    files, rx = followed([root / "zoo" / "net.py"])
    assert [f.relative_to(root).as_posix() for f in files] == ["zoo/net.py", "zoo/layers/conv.py"]
    assert rx == {"zoo.layers.ConvBN": "zoo.layers.conv"}
    p = _cli("translate", "zoo/net.py", cwd=root)
    assert p.returncode == 0, p.stderr
    assert "from zoo.layers.conv_nnx import ConvBN" in (root / "zoo" / "net_nnx.py").read_text()
    parity_beside(root, "zoo.net", (2, 3, 8, 8))


def test_dependency_levels_put_cycles_after_what_they_import():
    deps = {"a": {"b"}, "b": {"a", "c"}, "c": set(), "d": {"a"}}
    assert dependency_levels(deps) == [["c"], ["a", "b"], ["d"]]


def test_module_level_plain_values_are_not_tensors():
    src = ("import torch.nn as nn\n_seen = set()\nNAMES = ['a', 'b']\n\n\n"
           "def remember(m):\n    _seen.add(m)\n    return NAMES.index('a')\n")
    code = torch2nnx.translate(src, "m.py").code
    assert "_seen.add(m)" in code and "NAMES.index(" in code


def test_internal_error_keeps_the_statement_marked(monkeypatch):
    """A translator bug on one class: that class stays as in the source under a
    T2N901 marker, the rest of the file is translated, the output compiles."""
    from torch2nnx.translator import module as mod

    real = mod.rewrite_class

    def broken(f, info, methods):
        if info.name == "Bad":
            raise RuntimeError("boom")
        return real(f, info, methods)

    monkeypatch.setattr(mod, "rewrite_class", broken)
    src = ("import torch.nn as nn\n\n\nclass Good(nn.Module):\n    def __init__(self):\n"
           "        super().__init__()\n        self.fc = nn.Linear(2, 2)\n\n    def forward(self, x):\n"
           "        return self.fc(x)\n\n\nclass Bad(nn.Module):\n    def forward(self, x):\n        return x\n")
    result = torch2nnx.translate(src, "m.py")
    compile(result.code, "m_nnx.py", "exec")
    assert "class Good(nnx.Module)" in result.code
    assert "T2N901" in result.code and "RuntimeError: boom" in result.code
    assert "class Bad(nn.Module)" in result.code
    assert any(d.code == "T2N901" and d.line == 13 for d in result.diagnostics)
    assert result.todo_count >= 1


def test_output_that_does_not_compile_falls_back_to_the_source(monkeypatch):
    """A rewrite that makes invalid code (here: forced) is caught before
    anything is written: that statement goes back to its source form, marked."""
    import libcst as cst

    from torch2nnx.translator import module as mod

    real = mod._rewrite_module_function

    def invalid(f, stmt):
        fn = real(f, stmt)
        if stmt.name.value == "g":  # `None = x`: what by-name attribute rewrites once produced
            bad = cst.parse_statement("x = 1\n").with_changes(
                body=[cst.Assign(targets=[cst.AssignTarget(cst.Name("None"))], value=cst.Name("x"))])
            fn = fn.with_changes(body=fn.body.with_changes(body=[bad, *fn.body.body]))
        return fn

    monkeypatch.setattr(mod, "_rewrite_module_function", invalid)
    src = "import torch\n\n\ndef f(x):\n    return torch.relu(x)\n\n\ndef g(x):\n    return x + 1\n"
    result = torch2nnx.translate(src, "m.py")
    compile(result.code, "m_nnx.py", "exec")
    assert "jax.nn.relu(x)" in result.code
    assert "T2N901" in result.code and "does not compile" in result.code
    assert any(d.code == "T2N901" for d in result.diagnostics)


FACTORY = '''import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim, device=None, dtype=None):
        super().__init__()
        dd = {'device': device, 'dtype': dtype}
        fk = dict(device=device, dtype=dtype)
        self.conv = nn.Conv2d(3, dim, 3, padding=1, **dd)
        self.norm = nn.BatchNorm2d(dim, **fk)
        self.fc = nn.Linear(dim, 4, **dd)

    def forward(self, x):
        return self.fc(self.norm(self.conv(x)).mean((2, 3)))
'''


def test_factory_kwargs_through_dicts(tmp_path):
    """timm hands device/dtype on as **dd: the splat is written out, devices dropped."""
    from harness import run_parity, translate_files

    result, tmod, jmod, wmod = translate_files(FACTORY, tmp_path)
    assert result.todo_count == 0, result.code
    layers = [l for l in result.code.splitlines() if any(k in l for k in ("nnx.Conv(", "TorchBatchNorm(", "nnx.Linear("))
              and not l.startswith("class ")]
    assert len(layers) == 3 and not any("device" in l or "**" in l for l in layers), result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    assert run_parity(result, tmod, jmod, wmod, "Block", [x], kwargs={"dim": 6}, jit=True) < 1e-4


def test_splat_of_a_rebound_value_reads_the_dict():
    from torch2nnx.translator.splats import expand_splats
    import libcst as cst

    src = ("def f(a):\n    d = {'x': a, 'y': 2}\n    a = 5\n    return g(**d)\n\n\n"
           "def h(a):\n    d = {'x': a}\n    d['z'] = 1\n    return g(**d)\n")
    out = expand_splats(cst.parse_module(src), src).code
    assert "g(x=d['x'], y=2)" in out  # `a` is rebound after the dict: read from it
    assert "return g(**d)\n" in out.split("def h")[1]  # a mutated dict is left alone


SLOTS = '''from collections import OrderedDict
from typing import Optional

import torch.nn as nn


class Net(nn.Module):
    def __init__(self, aux=True):
        super().__init__()
        layers = OrderedDict()
        layers["conv"] = nn.Conv2d(3, 4, 3)
        layers["act"] = nn.ReLU()
        self.body = nn.Sequential(layers)
        self.aux: Optional[nn.Module] = None
        if aux:
            self.aux = nn.Linear(4, 2)

    def forward(self, x):
        x = self.body(x).mean((2, 3))
        return self.aux(x) if self.aux is not None else x
'''


@pytest.mark.parametrize("aux", [True, False])
def test_named_sequential_from_a_variable_and_a_module_slot_declared_none(tmp_path, aux):
    """torchvision's MaxVit builds nn.Sequential(an OrderedDict variable); Inception
    declares `self.AuxLogits = None` before maybe assigning a module (NNX: nnx.data)."""
    from harness import run_parity, translate_files

    result, tmod, jmod, wmod = translate_files(SLOTS, tmp_path)
    assert "nnx.data(None)" in result.code and "sequential(layers)" in result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    assert run_parity(result, tmod, jmod, wmod, "Net", [x], kwargs={"aux": aux}, jit=True) < 1e-4


def test_a_module_imported_from_its_package_imports_its_translation(tmp_path):
    """`from . import layers` then `layers.ConvBN(...)` (torchvision's
    detection backbones: `from .. import mobilenet`, `mobilenet.__dict__[name]`):
    the module object is the translation's, so what it builds is NNX."""
    root = tmp_path / "r"
    (root / "zoo").mkdir(parents=True)
    (root / "zoo" / "__init__.py").write_text("")
    (root / "zoo" / "layers.py").write_text((PKG / "relpkg" / "layers.py").read_text())
    (root / "zoo" / "net.py").write_text(
        "import torch.nn as nn\nfrom . import layers\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.a = layers.ConvBN(3, 4)\n"
        "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n"
        "        return self.fc(self.a(x).mean((2, 3)))\n")
    p = _cli("translate", "zoo/net.py", cwd=root)
    assert p.returncode == 0, p.stderr
    assert "from . import layers_nnx as layers" in (root / "zoo" / "net_nnx.py").read_text()
    parity_beside(root, "zoo.net", (2, 3, 8, 8))


def _zoo_reexporting(tmp_path, name: str, builder: str, import_line: str) -> tuple[Path, str]:
    """A package whose __init__ re-exports the builder ``name`` of its submodule
    of the same name, and a model file importing it with ``import_line``:
    translated; the package root and the model's translation."""
    root = tmp_path / "r"
    (root / "zoo").mkdir(parents=True)
    (root / "zoo" / "__init__.py").write_text(f"from .{name} import {name}\n")
    (root / "zoo" / f"{name}.py").write_text("import torch.nn as nn\n\n\n" + builder)
    (root / "zoo" / "net.py").write_text(
        f"import torch.nn as nn\n{import_line}\n\n\nclass Net(nn.Module):\n"
        f"    def __init__(self):\n        super().__init__()\n        self.a = {name}(3, 4)\n"
        "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n"
        "        return self.fc(self.a(x).mean((2, 3)))\n")
    p = _cli("translate", "zoo/net.py", cwd=root)
    assert p.returncode == 0, p.stderr
    return root, (root / "zoo" / "net_nnx.py").read_text()


def test_a_name_the_package_binds_is_not_its_submodule(tmp_path):
    """`from . import conv` where the package's __init__ does `from .conv import
    conv` (timm.layers' create_conv2d): the name is the function, not the
    submodule of the same name, and the translation imports it as such."""
    root, code = _zoo_reexporting(tmp_path, "conv", "def conv(i, o, k=3):\n    return nn.Conv2d(i, o, k, padding=k // 2)\n",
                                  "from . import conv")
    assert "conv_nnx as conv" not in code
    parity_beside(root, "zoo.net", (2, 3, 8, 8))


def test_a_name_the_package_reexports_over_its_submodule_is_the_name(tmp_path):
    """`from zoo import make_conv` where `zoo/__init__.py` has `from .make_conv import
    make_conv` (timm's `from timm.layers import create_conv2d`): the name is the
    function, not the submodule; importing the module's translation under that
    name made the call a call of a module."""
    root, code = _zoo_reexporting(
        tmp_path, "make_conv", "def make_conv(cin, cout):\n    return nn.Conv2d(cin, cout, 3, padding=1)\n",
        "from zoo import make_conv")
    assert "from zoo.make_conv_nnx import make_conv" in code
    parity_beside(root, "zoo.net", (2, 3, 8, 8))
