"""Runs that translate a few stale files of a tree (torch2nnx/incremental.py,
cache.py): the up-to-date files they import bring their results from the cache,
and every output is the one a run without the cache writes."""

from __future__ import annotations

import ast
import filecmp
import textwrap
from pathlib import Path

from click.testing import CliRunner

from torch2nnx import follow, project
from torch2nnx.cli import main

BLOCK = '''\
from torch import nn


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x)).relu()


class Scale(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.w = nn.Parameter(torch.ones(c, 1, 1))

    def forward(self, x):
        return x * self.w
'''

NET = '''\
import torch
from torch import nn

from .blocks import Block, Scale


class Net(nn.Module):
    def __init__(self, width=WIDTH):
        super().__init__()
        self.a = Block(3, width)
        self.s = Scale(width)
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        x = self.s(self.a(x))
        return self.fc(x.mean((2, 3)))


WIDTH = 8
'''

WIDE = '''\
from torch import nn

from .net import Net
from .blocks import Block


class Wide(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Block(3, 3)
        self.net = Net(16)

    def forward(self, x):
        return self.net(self.stem(x))
'''

ALL = "from .net import *\nfrom .wide import *\n"


def make(root: Path, name: str) -> Path:
    pkg = root / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .models import *\n")
    (pkg / "blocks.py").write_text("import torch\n" + BLOCK)
    (pkg / "net.py").write_text(NET)
    (pkg / "wide.py").write_text(WIDE)
    (pkg / "models.py").write_text(ALL)  # only star imports: its importers depend on it
    return pkg


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def same_trees(a: Path, b: Path) -> list[str]:
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*.py"))
    assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*.py"))
    return [f for f in files if not filecmp.cmp(a / f, b / f, shallow=False)]


def test_an_edit_translates_the_stale_files_and_writes_what_a_full_run_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH2NNX_CACHE_DIR", str(tmp_path / "cache"))
    pkg = make(tmp_path / "src", "incpkg")
    out = tmp_path / "one" / "out"
    assert run("translate", pkg, "-o", out, "-j", "1").exit_code == 0

    calls = []
    real = project._translate_job
    monkeypatch.setattr(project, "_translate_job", lambda job: calls.append(job[0]) or real(job))
    # an edit of net.py: it and the files importing it, transitively, are stale
    (pkg / "net.py").write_text(NET.replace("WIDTH = 8", "WIDTH = 12"))
    assert run("translate", pkg, "-o", out, "-j", "1").exit_code == 0
    translated = {c.rpartition(".")[2] for c in calls}
    assert "blocks" not in translated  # imported by the stale files, up to date: from the cache
    assert {"net", "wide", "models"} <= translated

    full = tmp_path / "two" / "out"  # the same output name: the same absolute imports
    monkeypatch.setattr(project, "_translate_job", real)
    assert run("translate", pkg, "-o", full, "-j", "1", "--no-cache").exit_code == 0
    assert same_trees(out, full) == []
    assert "WIDTH = 12" in (out / "net.py").read_text()


def test_an_edit_of_an_imported_file_reaches_its_importers_importers(tmp_path, monkeypatch):
    # wide.py imports net.py imports blocks.py: an edit of blocks.py makes all three stale
    monkeypatch.setenv("TORCH2NNX_CACHE_DIR", str(tmp_path / "cache"))
    pkg = make(tmp_path / "src", "incpkg2")
    out = tmp_path / "one" / "out"
    assert run("translate", pkg, "-o", out, "-j", "1").exit_code == 0
    (pkg / "blocks.py").write_text("import torch\n" + BLOCK.replace("self.bn(self.conv(x)).relu()",
                                                                   "self.conv(x).relu()"))
    calls = []
    real = project._translate_job
    monkeypatch.setattr(project, "_translate_job", lambda job: calls.append(job[0]) or real(job))
    assert run("translate", pkg, "-o", out, "-j", "1").exit_code == 0
    assert {"blocks", "net", "wide"} <= {c.rpartition(".")[2] for c in calls}
    monkeypatch.setattr(project, "_translate_job", real)
    full = tmp_path / "two" / "out"
    assert run("translate", pkg, "-o", full, "-j", "1", "--no-cache").exit_code == 0
    assert same_trees(out, full) == []


def test_a_star_import_makes_the_starred_module_a_dependency(tmp_path):
    pkg = make(tmp_path, "starpkg")
    names, uses_torch, read = project._scan((pkg / "__init__.py").read_text(), "starpkg", pkg / "__init__.py")
    assert "starpkg.models" in names  # translated before the __init__ importing it
    assert str(pkg / "models.py") in read  # the scan depends on what it star-imported


def test_skeleton_keeps_what_following_imports_reads():
    src = textwrap.dedent('''
        """doc"""
        import torch
        try:
            from .a import b
        except ImportError:
            b = None
        __all__ = ["f", "C"]


        @register_model
        def f(x=make_default(), *, y: int = 2):
            """doc"""
            return torch.zeros(x)


        class C(Base, metaclass=M):
            x = 1

            def g(self):
                return 2
        def h(): return 3
        X = 1; Y = 2
    ''')
    skel = follow.skeleton(src)
    tree, full = ast.parse(skel), ast.parse(src)
    assert [ast.dump(n) for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))] == \
        [ast.dump(n) for n in full.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert set(defs) == {"f", "C", "h"}
    assert ast.unparse(defs["f"].args) == ast.unparse(full.body[4].args)  # defaults run at import
    assert [ast.unparse(d) for d in defs["f"].decorator_list] == ["register_model"]
    assert [ast.unparse(b) for b in defs["C"].bases] == ["Base"]
    assert len(skel) < len(src)
