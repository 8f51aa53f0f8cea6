"""Which files a translation needs: the model code a file imports from its own
package, followed transitively, with names re-exported by a package's
``__init__.py`` traced to the file that defines them.

``from timm.layers import DropPath`` names ``timm.layers.drop.DropPath``:
the run translates ``timm/layers/drop.py`` and the import becomes
``from timm.layers.drop_nnx import DropPath``, instead of translating the
package's ``__init__.py`` and, through it, every module the package has.

Only the files' import statements are read (a cheap parse of the module's
top level); nothing is imported.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import libcst as cst

from .rules import registry
from .translator.imports import ImportTable, absolute_module, dotted, provided, torch_like, user_module


def package_root(path: Path, package: str | None) -> Path:
    """The directory holding the top-level package of ``path``."""
    root = path.resolve().parent
    for _ in (package.split(".") if package else []):
        root = root.parent
    return root


def module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


@lru_cache(maxsize=4096)
def _parse_top(path: str, mtime: float):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except Exception:  # noqa: BLE001 - unreadable: nothing to follow
        return None
    try:
        return cst.parse_module(skeleton(text))
    except Exception:  # noqa: BLE001
        try:
            return cst.parse_module(text)
        except Exception:  # noqa: BLE001 - unparseable: nothing to follow
            return None


def skeleton(text: str) -> str:
    """``text`` with the bodies of its top-level functions and classes cut to
    ``...``: what following imports reads (imports, defined names, ``__all__``,
    decorators and defaults run at import) without LibCST parsing every body
    (Python's own parser finds where they are, ten times faster)."""
    import ast

    lines = text.splitlines(keepends=True)
    out: list[str] = []
    done = 0  # lines emitted
    for node in ast.parse(text).body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
        if start <= done:
            continue  # a statement sharing a line with the last one: emitted with it
        end = node.end_lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body[0].lineno > node.lineno:
            first = node.body[0]
            body_start = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", ())])
            header = lines[start - 1:body_start - 1]
            indent = lines[first.lineno - 1][:first.col_offset]
            out.extend(header)
            if header and not header[-1].endswith(("\n", "\r")):
                out.append("\n")
            out.append(indent + "...\n")
        else:
            out.extend(lines[start - 1:end])
            if out and not out[-1].endswith(("\n", "\r")):
                out.append("\n")
        done = end
    return "".join(out)


_reading: list[set] = []  # the files top_level parsed, per reads() block


@contextmanager
def reads():
    """The files ``top_level`` reads inside the block (what a scan depends on)."""
    seen: set = set()
    _reading.append(seen)
    try:
        yield seen
    finally:
        _reading.pop()


def top_level(path: Path):
    for seen in _reading:
        seen.add(str(path))
    return _parse_top(str(path), path.stat().st_mtime)


def _defined_names(module: cst.Module) -> set[str]:
    names = set()
    for stmt in module.body:
        if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
            names.add(stmt.name.value)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    for t in small.targets:
                        if isinstance(t.target, cst.Name):
                            names.add(t.target.value)
    return names


class Reexports:
    """Names a package's ``__init__.py`` imports from its submodules:
    ``{"timm.layers.DropPath": "timm.layers.drop"}``, resolved through
    chains of packages (``a/__init__`` re-exporting ``a/b/__init__``'s names)."""

    def __init__(self, root: Path):
        self.root = root
        self._tables: dict[str, dict[str, str]] = {}

    def table(self, package: str) -> dict[str, str]:
        """{name: the module it comes from} for ``package``'s ``__init__.py``."""
        if package in self._tables:
            return self._tables[package]
        self._tables[package] = {}
        init = self.root.joinpath(*package.split(".")) / "__init__.py"
        module = top_level(init) if init.is_file() else None
        out: dict[str, str] = {}
        if module is not None:
            for stmt in _import_statements(module):
                if not isinstance(stmt, cst.ImportFrom) or stmt.module is None and not stmt.relative:
                    continue
                if stmt.relative:
                    src = absolute_module(package, len(stmt.relative), dotted(stmt.module) if stmt.module else "")
                else:
                    src = dotted(stmt.module)
                if not src or not src.startswith(package + "."):
                    continue
                if isinstance(stmt.names, cst.ImportStar):
                    f = module_file(self.root, src)
                    sub = top_level(f) if f is not None else None
                    for name in (_defined_names(sub) if sub is not None else ()):
                        if not name.startswith("_"):
                            out.setdefault(name, src)
                    continue
                for alias in stmt.names:
                    name = dotted(alias.name)
                    local = alias.asname.name.value if alias.asname else name
                    if local == name:  # a rename would need the import rewritten under its new name
                        out[local] = src
        self._tables[package] = out
        return out

    def resolve(self, qualified: str) -> str:
        """The module-qualified name a re-exported name really has."""
        seen = set()
        while qualified not in seen:
            seen.add(qualified)
            mod, _, name = qualified.rpartition(".")
            if not mod or not (self.root.joinpath(*mod.split(".")) / "__init__.py").is_file():
                return qualified
            src = self.table(mod).get(name)
            if src is None:
                return qualified
            sub = module_file(self.root, f"{mod}.{name}") if src == f"{mod}.{name}" else None
            if sub is not None and (top_level(sub) is None or name not in _defined_names(top_level(sub))):
                return qualified  # a submodule, imported by its package
            # (`from .create_attn import create_attn` binds the function, shadowing the submodule)
            qualified = f"{src}.{name}"
        return qualified


def _import_statements(module: cst.Module):
    for stmt in module.body:
        bodies = [stmt]
        if isinstance(stmt, (cst.Try, cst.If)):
            bodies = list(stmt.body.body)
        for s in bodies:
            if isinstance(s, cst.SimpleStatementLine):
                for small in s.body:
                    if isinstance(small, (cst.Import, cst.ImportFrom)):
                        yield small


def star_exports(root: Path, module: str, _seen: frozenset = frozenset()) -> dict[str, str]:
    """What ``from <module> import *`` binds: the module's public names -- what it
    defines and what it imports (timm's activations.py hands ``nn`` and ``F``
    to create_act.py this way) -- or those ``__all__`` lists."""
    f = module_file(root, module)
    top = top_level(f) if f is not None and module not in _seen else None
    if top is None:
        return {}
    package = module if f.name == "__init__.py" else module.rpartition(".")[0]
    seen = _seen | {module}
    table = ImportTable.from_module(top, package, star=lambda m: star_exports(root, m, seen))
    names = dict(table.names)
    names.update({n: f"{module}.{n}" for n in _defined_names(top)})
    listed = _all_names(top)
    return {k: v for k, v in names.items() if (k in listed if listed is not None else not k.startswith("_"))}


def _all_names(module: cst.Module) -> set[str] | None:
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Assign):
            a = stmt.body[0]
            if any(isinstance(t.target, cst.Name) and t.target.value == "__all__" for t in a.targets) \
                    and isinstance(a.value, (cst.List, cst.Tuple)):
                return {e.value.evaluated_value for e in a.value.elements if isinstance(e.value, cst.SimpleString)}
    return None


def star_resolver(path: Path | str, package: str | None):
    """``ImportTable``'s ``star`` for a source file (None where it has no package on disk)."""
    if not package or not Path(path).is_file():
        return None
    root = package_root(Path(path), package)
    return lambda m: star_exports(root, m)


def imported_names(path: Path, package: str | None) -> set[str]:
    module = top_level(path)
    if module is None:
        return set()
    return set(ImportTable.from_module(module, package, star=star_resolver(path, package)).names.values())


def uses_torch(names: set[str]) -> bool:
    return any(torch_like(q) for q in names)


def followed(paths: list[Path]) -> tuple[list[Path], dict[str, str]]:
    """``paths`` and the files of their own packages they import that use
    torch -- or that import such a file (a registry of layer classes,
    timm's ``create_norm_act.py``: it must hand out the translated classes)
    -- transitively. Returns (files in a stable order, re-exports
    ``{qualified name: defining module}`` for the names reached through a
    package's ``__init__.py``)."""
    from .api import package_of
    from .registrants import registrants

    seen: dict[Path, tuple[bool, list[Path]]] = {}  # file -> (uses torch, files of its package it imports)
    reexported: dict[Path, dict[str, str]] = {}
    resolvers: dict[Path, Reexports] = {}
    explicit = [p.resolve() for p in paths]
    todo = list(explicit)  # the order files are reached in is _reach_order's, below
    registering: dict[Path, list[Path]] = {}  # registry file -> files filling its registry (registrants.py)
    while True:
        _walk(todo, seen, reexported, resolvers)
        included = _included(explicit, seen)
        # files that fill an included file's registry when torch imports it: followed too
        # (they import it, so they are included; its translation imports theirs)
        for p in sorted(included):
            if p not in registering:
                registering[p] = registrants(p, package_of(p))
                todo += [f for f in registering[p] if f not in seen]
        if not todo:
            break
    # the order files were first reached in, as before; registering files after their registry
    out = [p for p in _reach_order(explicit, seen, registering) if p in included]
    return out, {q: m for p in out for q, m in reexported.get(p, {}).items()}


def _walk(todo: list[Path], seen: dict, reexported: dict, resolvers: dict) -> None:
    from .api import package_of

    while todo:
        p = todo.pop()
        if p in seen:
            continue
        package = package_of(p)
        names = imported_names(p, package)
        deps: list[Path] = []
        seen[p] = (uses_torch(names), deps)
        reexports = reexported[p] = {}
        if not package:
            continue
        root = package_root(p, package)
        top = package.split(".")[0]
        res = resolvers.setdefault(root, Reexports(root))
        for q in sorted(names):
            if q.split(".")[0] != top or user_module(q) or provided(q) or not registry.followed(q):
                continue  # another package's, a module user rows translate (rules/user.py), or a library's
                # own code the rules stand for (transformers' ACT2FN)
            real = res.resolve(q)
            if real != q:
                reexports[q] = real.rpartition(".")[0]
            for cand in (real, real.rpartition(".")[0]):
                f = module_file(root, cand)
                if f is not None:
                    deps.append(f.resolve())
                    todo.append(f.resolve())
                    break


def _included(explicit: list[Path], seen: dict) -> set[Path]:
    included = set(explicit) | {p for p, (torch, _) in seen.items() if torch}
    changed = True
    while changed:
        changed = False
        for p, (_, deps) in seen.items():
            if p not in included and any(d in included for d in deps):
                included.add(p)
                changed = True
    return included


def _reach_order(explicit: list[Path], seen: dict, registering: dict | None = None) -> list[Path]:
    order: dict[Path, None] = {}
    todo = list(explicit)
    while todo:
        p = todo.pop()
        if p in order or p not in seen:
            continue
        order[p] = None
        todo.extend(seen[p][1])
        todo.extend(f for f in reversed((registering or {}).get(p, ())) if f not in order)
    return list(order)
