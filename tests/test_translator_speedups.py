"""The translator's speed-ups change no result: the copy-on-write tree walk
against LibCST's own visit, the round memo against rewriting every round,
per-statement positions against the source text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import libcst as cst
import pytest

import torch2nnx
from torch2nnx.translator import rounds
from torch2nnx.translator.fastvisit import FastTransformer, FastVisitor

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted(ROOT.glob("fixtures/*/model.py"))


def torchvision_file(name: str) -> Path | None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "models" / name
    return path if path.exists() else None


TV = [p for p in (torchvision_file(n) for n in ("resnet.py", "densenet.py", "shufflenetv2.py", "feature_extraction.py",
                                                 "swin_transformer.py", "detection/_utils.py")) if p is not None]
SOURCES = FIXTURES + TV


def _ids(paths):
    return [f"{p.parent.name}/{p.name}" for p in paths]


class Recorder:
    """Logs the hooks a translator-like pass uses, and rewrites as one
    would: renames, removes statements, flattens a block into its parent."""

    def __init__(self):
        self.log = []

    def visit_Name(self, node):
        self.log.append(("visit_Name", node.value))

    def leave_Name(self, original, updated):
        self.log.append(("leave_Name", original.value))
        return updated.with_changes(value=updated.value + "_") if updated.value == "x" else updated

    def visit_Call(self, node):
        self.log.append(("visit_Call",))

    def leave_Call(self, original, updated):
        self.log.append(("leave_Call", len(updated.args)))
        return updated

    def visit_If(self, node):
        self.log.append(("visit_If",))

    def visit_If_orelse(self, node):
        self.log.append(("visit_If_orelse",))

    def leave_For_iter(self, node):
        self.log.append(("leave_For_iter",))

    def leave_SimpleStatementLine(self, original, updated):
        self.log.append(("leave_SimpleStatementLine",))
        if len(updated.body) == 1 and isinstance(updated.body[0], cst.Pass):
            return cst.RemovalSentinel.REMOVE
        return updated

    def leave_With(self, original, updated):
        return cst.FlattenSentinel(list(updated.body.body))

    def leave_Arg(self, original, updated):
        # drop keyword arguments named `inplace` (an optional-comma sequence)
        if updated.keyword is not None and updated.keyword.value == "inplace":
            return cst.RemovalSentinel.REMOVE
        return updated


class LibcstRecorder(Recorder, cst.CSTTransformer):
    def __init__(self):
        cst.CSTTransformer.__init__(self)
        Recorder.__init__(self)


class FastRecorder(Recorder, FastTransformer):
    pass


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_walk_matches_libcst_visit(path):
    module = cst.parse_module(path.read_text())
    slow, fast = LibcstRecorder(), FastRecorder()
    expected = module.visit(slow)
    got = fast.walk(module)
    assert got.code == expected.code
    assert fast.log == slow.log
    assert any(e[0] == "leave_Name" for e in fast.log)


class NameLog:
    def __init__(self):
        self.seen = []

    def visit_Attribute(self, node):
        self.seen.append("attr")

    def visit_Name(self, node):
        self.seen.append(node.value)


class Names(NameLog, FastVisitor):
    pass


class LibcstNames(NameLog, cst.CSTVisitor):
    pass


@pytest.mark.parametrize("path", SOURCES[:8] + TV, ids=_ids(SOURCES[:8] + TV))
def test_visitor_walk_matches_libcst_visit(path):
    module = cst.parse_module(path.read_text())
    slow, fast = LibcstNames(), Names()
    module.visit(slow)
    assert fast.walk(module) is module
    assert fast.seen == slow.seen and fast.seen


def _result(path: Path):
    r = torch2nnx.translate(path.read_text(), str(path))
    return r.code, r.weights_code, r.diagnostics, r.todo_count


@pytest.mark.parametrize("path", FIXTURES + TV, ids=_ids(FIXTURES + TV))
def test_round_memo_changes_nothing(path, monkeypatch):
    memoized = _result(path)
    reused = []
    original_run = rounds.RoundMemo.run

    def counting_run(self, *a, **k):
        before = self.reused
        out = original_run(self, *a, **k)
        reused.append(self.reused - before)
        return out

    monkeypatch.setattr(rounds.RoundMemo, "run", counting_run)
    _result(path)
    # inputs that never compare equal: every statement is rewritten every round
    monkeypatch.setattr(rounds.RoundMemo, "inputs", lambda self, *a: object())
    assert _result(path) == memoized
    if path in TV:
        assert sum(reused) > 0  # the memo did replay statements there


@pytest.mark.parametrize("path", TV, ids=_ids(TV))
def test_diagnostic_positions_point_at_the_source(path):
    lines = path.read_text().splitlines()
    r = torch2nnx.translate(path.read_text(), str(path))
    leftovers = [d for d in r.diagnostics if d.code == "T2N003" and "left in the output:" in d.message]
    for d in r.diagnostics:
        assert 1 <= d.line <= len(lines), d
    for d in leftovers:
        names = d.message.rsplit(": ", 1)[1].split(", ")
        text = lines[d.line - 1][d.column - 1:]
        assert any(text.startswith(n) for n in names), (d, text)
