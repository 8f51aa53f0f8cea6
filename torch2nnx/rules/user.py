"""Rows users add: modules of their own exposing ``RULES`` (calls and layers)
and optionally ``METHODS`` (Tensor methods), written with the same
:class:`~torch2nnx.rules.base.Rule` API as the built-in tables.

They are named in pyproject.toml (``[tool.torch2nnx] rules = ["mypkg.rules"]``)
or with ``--rules MODULE``, imported by name with the project root (the
directory of pyproject.toml) and the working directory on ``sys.path``, and
checked here before any translation: a module that cannot be used stops the
command with one line saying which module and why (exit code 2).

A user row may add an API torch2nnx has no row for (a company layer, a custom
op, or a torch API the built-in tables lack). It may not replace a built-in
row, nor another user row: a name both define is an error. Overriding a
built-in row would change the translation of every model silently and make
the built-in tests say nothing about it; a fix belongs in the built-in table.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .base import Rule, WeightMap


class UserRulesError(Exception):
    """A user rules module that cannot be used; the message names the module."""


@dataclass(frozen=True)
class UserRules:
    """The loaded modules: their rows, and what a cache key needs of them."""

    modules: tuple[str, ...] = ()
    root: str | None = None  # the project root put on sys.path (pyproject's directory)
    calls: tuple[Rule, ...] = ()
    methods: tuple[Rule, ...] = ()
    origin: dict = field(default_factory=dict)  # row name -> the module that defines it
    digest: str = ""  # of the modules' sources and those of the code their builds live in

    @property
    def spec(self) -> tuple:
        """What a worker process needs to load the same rows (picklable)."""
        return self.modules, self.root

    def modules_of_rows(self) -> frozenset[str]:
        """The Python modules the rows' APIs live in (``mylib.layers`` for
        ``mylib.layers.ScaledLinear``): their imports are dropped from a
        translation like torch's, any other name of theirs is marked TODO."""
        return frozenset(r.name.rpartition(".")[0] for r in self.calls if "." in r.name)


NONE = UserRules()


def _on_path(root: str | None) -> list[str]:
    out = []
    for p in (root, str(Path.cwd())):
        if p and p not in sys.path and p not in out:
            out.append(p)
    return out


def _import(name: str, root: str | None):
    added = _on_path(root)
    sys.path[:0] = added
    try:
        importlib.invalidate_caches()
        return importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - any failure while importing is the module's
        why = f"{type(e).__name__}: {e}".splitlines()[0]
        raise UserRulesError(f"user rules {name}: cannot import it ({why})") from None
    finally:
        for p in added:
            if p in sys.path:
                sys.path.remove(p)


def _rows(name: str, mod, attr: str, required: bool) -> list[Rule]:
    if not hasattr(mod, attr):
        if required:
            raise UserRulesError(f"user rules {name}: no {attr} list "
                                 f"(the module must define {attr} = [Rule(...), ...])")
        return []
    rows = getattr(mod, attr)
    if not isinstance(rows, (list, tuple)):
        raise UserRulesError(f"user rules {name}: {attr} must be a list of Rule rows, not {type(rows).__name__}")
    for i, r in enumerate(rows):
        if not isinstance(r, Rule):
            raise UserRulesError(f"user rules {name}: {attr}[{i}] is a {type(r).__name__}, not a "
                                 "torch2nnx.rules.base.Rule")
    return list(rows)


def _check_row(name: str, attr: str, r: Rule) -> None:
    where = f"user rules {name}: {attr} row {r.name!r}"
    if attr == "METHODS" and not r.name.startswith("Tensor."):
        raise UserRulesError(f"{where}: a METHODS row is named Tensor.<method>")
    if attr == "RULES" and (r.name.startswith("Tensor.") or "." not in r.name):
        raise UserRulesError(f"{where}: a RULES row is named by its qualified name (mylib.layers.ScaledLinear); "
                             "Tensor methods go in METHODS")
    if not callable(r.build):
        raise UserRulesError(f"{where}: build is not callable")
    from ..translator.emit import definitions

    transforms = definitions("transforms.py")
    maps = r.weights if isinstance(r.weights, tuple) else (r.weights,) if r.weights is not None else ()
    for w in maps:
        if not isinstance(w, WeightMap):
            raise UserRulesError(f"{where}: weights must be a WeightMap (rules.base.wmap) or a tuple of them")
        for e in w.entries:
            if e.transform and e.transform not in transforms:
                raise UserRulesError(f"{where}: weight transform {e.transform!r} is not one of torch2nnx's "
                                     f"(runtime/transforms.py: {', '.join(sorted(transforms))})")


def _digest(mods: list) -> str:
    """The sources the rows' behaviour comes from: each module's, and those of
    the modules their build functions are defined in."""
    h = hashlib.sha256()
    seen = set()
    todo = list(mods)
    for mod in mods:
        for attr in ("RULES", "METHODS"):
            for r in getattr(mod, attr, ()):
                for fn in (r.build, r.layout_of):
                    m = inspect.getmodule(fn) if fn is not None else None
                    if m is not None:
                        todo.append(m)
    for m in todo:
        if m.__name__ in seen:
            continue
        seen.add(m.__name__)
        h.update(m.__name__.encode())
        try:
            h.update(inspect.getsource(m).encode())
        except (OSError, TypeError):
            h.update(repr(sorted(vars(m))).encode())
    return h.hexdigest()[:16]


def load(modules: Sequence[str], root: str | Path | None, builtin: set[str], builtin_methods: set[str]) -> UserRules:
    """Import and check ``modules``; ``builtin``/``builtin_methods``: the
    names the built-in tables hold (a user row may not take one)."""
    modules = tuple(dict.fromkeys(modules))  # one module named twice (config and --rules) counts once
    if not modules:
        return NONE
    root = str(Path(root).resolve()) if root is not None else None
    calls, meths, origin, mods = [], [], {}, []
    for name in modules:
        if not isinstance(name, str) or not name or any(not p.isidentifier() for p in name.split(".")):
            raise UserRulesError(f"user rules {name!r}: not a module name (give it dotted, like mypkg.torch2nnx_rules)")
        mod = _import(name, root)
        mods.append(mod)
        for attr, required, out, taken in (("RULES", True, calls, builtin), ("METHODS", False, meths, builtin_methods)):
            for r in _rows(name, mod, attr, required):
                _check_row(name, attr, r)
                key = r.name.split(".", 1)[1] if attr == "METHODS" else r.name
                if key in taken:
                    raise UserRulesError(f"user rules {name}: row {r.name!r} duplicates a built-in row "
                                         "(user rows add APIs; they cannot replace built-in ones)")
                if r.name in origin:
                    raise UserRulesError(f"user rules {name}: row {r.name!r} is also defined by {origin[r.name]}")
                origin[r.name] = name
                out.append(r)
    return UserRules(modules, root, tuple(calls), tuple(meths), origin, _digest(mods))
