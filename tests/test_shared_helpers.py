"""One helpers module per output tree (torch2nnx/shared_helpers.py): a
multi-file run's translations import their runtime helpers and the weights
loader from ``_torch2nnx_helpers.py``; a single-file translation keeps them
inline. The module is restored when missing, never loses a name the tree
imports, and is checked like any output."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from test_workflow import make_tree, run, tree_files

from torch2nnx import shared_helpers
from torch2nnx.project import Unit

SHARED = shared_helpers.STEM + ".py"

GATE = textwrap.dedent('''\
    import torch
    import torch.nn.functional as F
    from torch import nn


    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x) * torch.sigmoid(x) + F.softplus(x, beta=2.0)
''')
SOFTPLUS = "F.softplus(x, beta=2.0)"  # a runtime helper (torch's threshold)


def test_a_directory_run_writes_the_helpers_once(tmp_path):
    pkg = make_tree(tmp_path)
    out = pkg.with_name(pkg.name + "_nnx")
    r = run("translate", pkg, "-o", out, "--no-cache")
    assert r.exit_code == 0, r.output
    assert SHARED in tree_files(out)
    shared = (out / SHARED).read_text()
    compile(shared, SHARED, "exec")
    for name in ("model.py", "layers.py", "heads/head.py", "model_weights.py", "heads/head_weights.py"):
        code = (out / name).read_text()
        # nothing defined twice: the loader and every helper live in the shared module only
        assert "def port_state_dict" not in code and "def state_dict_entries" not in code, name
        for imported in shared_helpers.imported_names(code):
            assert f"\ndef {imported}(" in shared or f"\nclass {imported}" in shared, (name, imported)
    assert "from .._torch2nnx_helpers import" in (out / "heads" / "head_weights.py").read_text()


def test_the_shared_helpers_run_at_parity(tmp_path, monkeypatch):
    """Next to the sources (suffix mode) in a package: the translations import
    the shared module relatively and port weights through its loader."""
    pkg = tmp_path / "gatepkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "gate.py").write_text(GATE)
    (pkg / "sub" / "gate2.py").write_text(GATE.replace("Gate", "Gate2"))
    r = run("translate", pkg / "gate.py", pkg / "sub" / "gate2.py", "--suffix", "_nnx", "--no-cache")
    assert r.exit_code == 0, r.output
    assert (pkg / SHARED).is_file()
    assert "from .._torch2nnx_helpers import softplus" in (pkg / "sub" / "gate2_nnx.py").read_text()
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod, cls in (("gatepkg.gate", "Gate"), ("gatepkg.sub.gate2", "Gate2")):
        from flax import nnx

        torch.manual_seed(0)
        t_model = getattr(importlib.import_module(mod), cls)().eval()
        with torch.no_grad():
            for p in t_model.parameters():
                p.add_(torch.randn_like(p) * 0.3)
        j_model = getattr(importlib.import_module(mod + "_nnx"), cls)(rngs=nnx.Rngs(0))
        importlib.import_module(mod + "_nnx_weights").load_torch_state_dict(j_model, t_model.state_dict())
        x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
        want = t_model(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(np.asarray(nnx.jit(lambda m, v: m(v))(j_model, x)), want, rtol=1e-4, atol=1e-4)
    for name in list(sys.modules):
        if name.startswith("gatepkg"):
            del sys.modules[name]


def test_one_file_stays_self_contained(tmp_path):
    (tmp_path / "gate.py").write_text(GATE)
    r = run("translate", tmp_path / "gate.py", "-o", tmp_path / "gate_nnx.py", "--no-cache")
    assert r.exit_code == 0, r.output
    assert not (tmp_path / SHARED).exists()
    code = (tmp_path / "gate_nnx.py").read_text()
    assert "def softplus(" in code and "_torch2nnx_helpers" not in code
    assert "def port_state_dict(" in (tmp_path / "gate_nnx_weights.py").read_text()


def test_a_missing_shared_module_is_stale_and_restored(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH2NNX_CACHE_DIR", str(tmp_path / "cache"))
    pkg = make_tree(tmp_path)
    out = pkg.with_name(pkg.name + "_nnx")
    assert run("translate", pkg, "-o", out).exit_code == 0
    written = (out / SHARED).read_text()
    (out / SHARED).unlink()
    r = run("translate", pkg, "-o", out, "--check")  # every translation is cached and up to date
    assert r.exit_code == 1, r.output
    assert SHARED in r.output
    assert not (out / SHARED).exists()
    assert run("translate", pkg, "-o", out).exit_code == 0
    assert (out / SHARED).read_text() == written
    assert run("translate", pkg, "-o", out, "--check").exit_code == 0


def test_names_already_held_are_kept(tmp_path):
    """A later run over part of the tree never takes away what the rest imports."""
    old = shared_helpers.source({"flatten", "port_state_dict", "state_dict_entries"}, 88)
    assert shared_helpers.held_names(old) == {"flatten", "port_state_dict", "state_dict_entries"}
    pkg = tmp_path / "heldpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(GATE.replace(SOFTPLUS, "x"))
    (pkg / "b.py").write_text(GATE.replace(SOFTPLUS, "x").replace("Gate", "B"))
    (pkg / SHARED).write_text(old)
    r = run("translate", pkg / "a.py", pkg / "b.py", "--suffix", "_nnx", "--no-cache")
    assert r.exit_code == 0, r.output
    assert "from ._torch2nnx_helpers import port_state_dict" in (pkg / "a_nnx_weights.py").read_text()
    assert "softplus" not in (pkg / "a_nnx.py").read_text()
    assert (pkg / SHARED).read_text() == old


@pytest.mark.parametrize("layout, expected", [
    # (relative output paths, targets) -> import of each, shared module's path
    ((("p/a.py", "p.a"), ("p/q/b.py", "p.q.b")), [(".", "p"), ("..", "p")]),
    ((("p/q/a.py", "p.q.a"), ("p/q/r/b.py", "p.q.r.b"), ("p/q/__init__.py", "p.q")),
     [(".", "p/q"), ("..", "p/q"), (".", "p/q")]),
    # top-level modules: self-contained (a top-level shared module could shadow another tree's)
    ((("a.py", "a"), ("b.py", "b")), [None, None]),
    # two top packages: none shared between them, each alone in its package
    ((("p/a.py", "p.a"), ("r/b.py", "r.b")), [None, None]),
])
def test_the_shared_module_sits_at_the_top_of_the_shared_packages(tmp_path, layout, expected):
    units = [Unit(tmp_path / "src.py", tmp_path / rel, None, target, target, None) for rel, target in layout]
    places = shared_helpers.plan(units)
    got = [None if p is None else (p.module[: -len(shared_helpers.STEM)], p.path) for p in places]
    assert got == [None if e is None else (e[0], (tmp_path / e[1] / SHARED).resolve()) for e in expected]
    assert shared_helpers.plan(units[:1]) == [None]


def test_unused_helpers_are_not_emitted():
    """A helper asked for by a rewrite that a later step made dead (a device read
    dropped with its argument) is not written into the output."""
    from torch2nnx.translator.emit import referenced_helpers

    own, aliases, shared = referenced_helpers({"flatten", "TorchDevice"}, "y = flatten(x)\n", None)
    assert (own, aliases, shared) == (["flatten"], [], [])
    own, aliases, shared = referenced_helpers({"flatten", "weights_module"}, "flatten(weights_module())", ".h")
    assert own == ["weights_module"] and shared == ["flatten"]  # reads its importer's __name__


def test_every_module_the_runtime_helpers_import_has_an_import_line():
    # emitted helpers carry no import statements of their own: each module a
    # helper file imports must be one the emitter knows how to import
    # (optim.py's ``weakref`` was not, and every emitted optimizer failed)
    import ast

    from torch2nnx.translator import emit

    lines = set(emit.IMPORTS.values())
    assert set(emit.IMPORT_ORDER) == set(emit.IMPORTS)  # each line has its place
    for name in emit.HELPER_FILES:
        tree = ast.parse((emit.RUNTIME / name).read_text())
        for node in tree.body:
            # relative imports name other helper files: one namespace when emitted
            if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.level == 0
                                                and node.module != "__future__"):
                assert ast.unparse(node) in lines, f"{name}: {ast.unparse(node)}"
