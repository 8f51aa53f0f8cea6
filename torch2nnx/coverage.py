"""``torch2nnx coverage``: every torch API a code base uses, how often, and
whether the rules translate it -- a migration plan before the first run.

Names are resolved through each file's imports (``nn.Conv2d``, ``F.relu``,
``from torch import cat``); tensor methods and properties (``x.view(...)``,
``x.shape``) are counted by name when a rule knows the name, and found by
translating the file when none does (the translator knows which values are
tensors). Each use is also matched with the TODO diagnostics the translation
gives at its position, so a supported API with unsupported arguments shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .rules import registry
from .translator.fastvisit import FastVisitor
from .translator.imports import DROPPED_ROOTS, ImportTable, dotted, kept_module, torch_like, user_module


YES, NO, KEPT = "yes", "no", "kept"


@dataclass
class ApiUse:
    name: str
    uses: int = 0
    support: str = NO  # yes | no | kept
    todos: int = 0  # uses the translation marks with a TODO
    files: set[str] = field(default_factory=set)


@dataclass
class Coverage:
    apis: dict[str, ApiUse] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # file -> why it cannot be read

    def add(self, name: str, path: str, support: str, todo: bool = False) -> None:
        a = self.apis.setdefault(name, ApiUse(name, support=support))
        if todo and a.support == KEPT:
            a.support = NO  # kept, but the translator could not leave it as it is
        a.uses += 1
        a.todos += todo
        a.files.add(path)

    def rows(self) -> list[ApiUse]:
        """Unsupported first (the work to plan), then by uses."""
        order = {NO: 0, KEPT: 1, YES: 2}
        return sorted(self.apis.values(), key=lambda a: (order[a.support], -a.uses, a.name))


def support_of(q: str) -> str:
    from .translator.state_io import LOAD, SAVE

    # torch.save / torch.load are translated by a pass of their own (state_io), not a row
    if registry.lookup(q) is not None or registry.constant(q) is not None or q in (SAVE, LOAD):
        return YES
    # torchvision's and einops' own plumbing (weights enums, utilities) stays
    # imported from the original package; torch itself must be translated
    # torch's data pipelines (torch.utils.data) are kept as torch code too
    # (a module user rows cover is translated like torch's: a name of it without a row is not)
    return NO if (q.split(".")[0] in DROPPED_ROOTS and not kept_module(q)) or user_module(q) else KEPT


class _Uses(FastVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, table: ImportTable, local_modules: set[str]):
        self.table = table
        self.local = local_modules
        self.found: list[tuple[str, tuple[int, int], bool]] = []  # (api, position, supported)
        self._attr_names: set[int] = set()

    def visit_Import(self, node):
        return False

    def visit_ImportFrom(self, node):
        return False

    def _pos(self, node):
        p = self.get_metadata(PositionProvider, node).start
        return p.line, p.column + 1

    def _name(self, node) -> bool:
        q = self.table.qualify(node)
        if q is None or not torch_like(q):
            return False
        if any(q.startswith(m + ".") for m in self.local) and registry.lookup(q) is None:
            return True  # a file of this code base (translated with it), not a torch API
        self.found.append((q, self._pos(node), support_of(q)))
        return True

    def visit_Attribute(self, node):
        # an attribute's own name is no use of a global (``safetensors.torch`` is not torch)
        self._attr_names.add(id(node.attr))
        if dotted(node) is not None and self._name(node):
            return False  # the longest dotted name only
        return True

    def visit_Name(self, node):
        if id(node) not in self._attr_names:
            self._name(node)

    def visit_Call(self, node):
        f = node.func
        # x.view(...): a tensor method when a rule knows the name (and x is no imported module)
        if isinstance(f, cst.Attribute) and not (dotted(f.value) and self.table.qualify(f.value)):
            if not (isinstance(f.value, cst.Name) and f.value.value == "self") and registry.method(f.attr.value):
                self.found.append((f"Tensor.{f.attr.value}", self._pos(node), YES))


def scan_file(cov: Coverage, path: Path, display: str, local_modules: set[str], translate_too: bool = True,
              diagnostics: list | None = None) -> None:
    """Count the torch APIs ``path`` uses. ``diagnostics``: what the run that
    translated it with the rest of the code base gave (None: translate the file
    alone)."""
    from .api import package_of, translate
    from .project import InputError, decode_source

    try:
        source = decode_source(path.read_bytes(), display)
        module = cst.parse_module(source)
    except (InputError, OSError, cst.ParserSyntaxError) as e:
        cov.failed[display] = str(e).splitlines()[0]
        return
    cov.files.append(display)
    table = ImportTable.from_module(module, package_of(path))
    visitor = _Uses(table, local_modules)
    MetadataWrapper(module, unsafe_skip_copy=True).visit(visitor)
    todo_at: dict[tuple[int, int], list[str]] = {}
    if translate_too and diagnostics is None and visitor.found:
        try:
            diagnostics = translate(source, display, weights=False).diagnostics
        except Exception:  # noqa: BLE001 - the static counts stand on their own
            diagnostics = None
    for d in (diagnostics or ()) if translate_too else ():
        if d.needs_todo:
            todo_at.setdefault((d.line, d.column), []).append(d.message)
    seen_positions = set()
    for name, pos, support in visitor.found:
        cov.add(name, display, support, todo=pos in todo_at)
        seen_positions.add(pos)
    # tensor methods no rule knows: only the translation can tell they are tensors
    for pos, messages in todo_at.items():
        for m in messages:
            if m.startswith("Tensor.") and m.endswith(" is not supported") and pos not in seen_positions:
                cov.add(m.split()[0], display, NO, todo=True)


def scan(paths: list[Path], display=str, translate_too: bool = True, workers: int | None = None) -> Coverage:
    """Count the APIs ``paths`` use. Translating, the files are translated the
    way ``translate`` does: in one run, with the model files of their own
    packages they import followed, so a class another file of the package
    defines (torchvision's ``ops.misc.Conv2dNormActivation``) is code the run
    translates, not an unsupported torch API."""
    from .api import package_of
    from .project import module_name, walk

    files: list[Path] = []
    for p in paths:
        files += walk(p) if p.is_dir() else [p]
    local = set()
    for f in files:
        pkg = package_of(f)
        local.add(f"{pkg}.{f.stem}" if pkg else f.stem)
    found = _run_diagnostics(files, display, workers) if translate_too else {}
    for f in found:
        local.add(module_name(f))
    cov = Coverage()
    for f in files:
        scan_file(cov, f, display(f), local, translate_too, found.get(f.resolve()))
    return cov


def _run_diagnostics(files: list[Path], display, workers: int | None) -> dict[Path, list | None]:
    """{file: its diagnostics} from one translation run over ``files`` and the
    files they import (written nowhere); {} when the run cannot be planned."""
    from . import project
    from .follow import followed

    try:
        every, _ = followed(files)
        units = project.check_units([project.file_unit(f, f.with_name(f.stem + "_nnx.py"), weights=None,
                                                       absolute=False) for f in every])
        outcomes = project.run(units, workers=workers or os.cpu_count() or 1, display=display)
    except Exception:  # noqa: BLE001 - each file is then translated alone
        return {}
    # a file that failed is translated alone for its counts (its failure is the run's)
    return {o.unit.src.resolve(): None if o.status == project.FAILED else o.diagnostics for o in outcomes}


def render_text(cov: Coverage) -> str:
    rows = cov.rows()
    width = max([len("torch API")] + [len(a.name) for a in rows])
    lines = [f"{'torch API':{width}}  {'uses':>5}  {'files':>5}  supported  {'TODOs':>5}"]
    for a in rows:
        lines.append(f"{a.name:{width}}  {a.uses:5d}  {len(a.files):5d}  {a.support:9}  "
                     f"{a.todos if a.todos else '':>5}")
    lines.append(summary(cov))
    return "\n".join(lines) + "\n"


def render_markdown(cov: Coverage) -> str:
    lines = ["| torch API | uses | files | supported | TODOs |", "|---|---:|---:|---|---:|"]
    for a in cov.rows():
        lines.append(f"| `{a.name}` | {a.uses} | {len(a.files)} | {'**no**' if a.support == NO else a.support} | "
                     f"{a.todos or ''} |")
    return "\n".join(lines) + "\n\n" + summary(cov) + "\n"


def render_json(cov: Coverage) -> str:
    import json

    return json.dumps({
        "files": cov.files,
        "failed": cov.failed,
        "apis": [{"name": a.name, "uses": a.uses, "files": sorted(a.files), "supported": a.support,
                  "todos": a.todos} for a in cov.rows()],
    }, indent=2) + "\n"


def summary(cov: Coverage) -> str:
    rows = cov.rows()
    uses = sum(a.uses for a in rows)
    ok = [a for a in rows if a.support != NO]
    ok_uses = sum(a.uses for a in ok)
    pct = f"{100 * ok_uses / uses:.0f}%" if uses else "-"
    todo = sum(a.todos for a in rows)
    n_files = len(cov.files)
    text = (f"{len(rows)} torch APIs, {uses} uses in {n_files} file{'s' if n_files != 1 else ''}: "
            f"{len(ok)} supported or kept ({pct} of uses), {len(rows) - len(ok)} unsupported")
    if todo:
        text += f"; {todo} uses would get a TODO"
    if cov.failed:
        text += f"; {len(cov.failed)} file{'s' if len(cov.failed) != 1 else ''} could not be read"
    return text + "."


__all__ = ["Coverage", "ApiUse", "scan", "render_text", "render_markdown", "render_json", "summary"]
