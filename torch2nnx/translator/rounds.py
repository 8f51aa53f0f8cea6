"""Translation rounds without repeated work.

A file is rewritten in rounds until what callers hand callees (layouts,
summaries) stops changing, and most rounds change little: a top-level
statement whose inputs are what they were last round would be rewritten to
the same code with the same side effects. ``RoundMemo`` keeps each
statement's inputs, result and effects on the FileContext, and replays them
instead of rewriting when the inputs match.

A statement's inputs: the layouts its callers hand its own functions (hints),
the return layouts decided for them, the functions known to draw random
numbers, and what the translator knows of every class and function the
statement names (directly or through them): summaries, attributes, flags,
builder returns.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass

import libcst as cst

from ..rules.base import Rule
from . import autograd_functions
from .context import ClassInfo, FileContext
from .fastvisit import FastVisitor


def freeze(x):
    """A comparable snapshot of analysis values (Tags, ModuleRefs, Summaries)."""
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    if isinstance(x, Rule):
        return ("rule", x.name)
    if isinstance(x, dict):
        # by content: a summary's `takes` fills in the order its parameters are met
        return tuple(sorted(((k, freeze(v)) for k, v in x.items()), key=lambda kv: repr(kv[0])))
    if isinstance(x, (tuple, list)):
        return tuple(freeze(v) for v in x)
    if isinstance(x, (set, frozenset)):
        return frozenset(freeze(v) for v in x)
    if is_dataclass(x):
        return (type(x).__name__,) + tuple(freeze(getattr(x, f.name)) for f in fields(x))
    return x


def _hinted_classes(tag) -> set[str]:
    """The classes a hint of modules names."""
    m = getattr(tag, "module", None)
    if getattr(tag, "kind", None) != "module" or m is None:
        return set()
    refs = [m] + list(getattr(m, "elements", ()) or ())
    return {r.cls for r in refs if getattr(r, "kind", None) == "class" and r.cls}


class _Names(FastVisitor):
    def __init__(self):
        self.names: set[str] = set()

    def visit_Name(self, node):
        self.names.add(node.value)


def referenced_names(stmt: cst.CSTNode) -> set[str]:
    """Names used in ``stmt``; a def's or class's own name only where the
    body uses it (a recursive call), not for being defined."""
    v = _Names()
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        v.walk(stmt.with_changes(name=cst.Name("_")))
    else:
        v.walk(stmt)
    return v.names


class RoundMemo:
    def __init__(self, f: FileContext, module: cst.Module):
        self.f = f
        local = set(f.classes) | set(f.local_functions)
        refs = {}
        by_name = {}
        for s in module.body:
            if isinstance(s, (cst.ClassDef, cst.FunctionDef)):
                by_name[s.name.value] = s
            refs[id(s)] = referenced_names(s) & local
        # factory fields of config objects stand for the classes bound to them
        factory = {c for names in f.factory_fields.values() for c in names}
        self.deps: dict[int, frozenset] = {}
        for s in module.body:
            seen = set(refs[id(s)]) | factory
            todo = list(seen)
            while todo:
                n = todo.pop()
                more = set(refs.get(id(by_name[n]), ())) if n in by_name else set()
                if n in f.classes:
                    more |= {b for b in f.classes[n].bases if b in local}
                for m in more - seen:
                    seen.add(m)
                    todo.append(m)
            if isinstance(s, cst.ClassDef):
                seen.add(s.name.value)
            self.deps[id(s)] = frozenset(seen)
        self.entries: dict[int, tuple] = {}
        self.reused = 0

    # ---------------------------------------------------------------- inputs
    def _class_state(self, info: ClassInfo):
        return (freeze(info.methods), (tuple(info.attrs), freeze(info.attrs)), info.uses_rngs, info.uses_training,
                info.container, freeze(info.elements))

    def inputs(self, stmt, owner, fname):
        f = self.f
        if owner is not None:
            own = lambda k: k[0] == owner  # noqa: E731
        elif fname is not None:
            own = lambda k: k[0] is None and k[1] == fname  # noqa: E731
        else:
            own = lambda k: False  # noqa: E731
        deps = self.deps.get(id(stmt), frozenset())
        # classes its callers hand it as modules (a Sequential subclass's layers,
        # tuple_layouts.note_layers): their summaries are inputs too
        deps = deps | {c for k, v in f.hints.items() if own(k) for c in _hinted_classes(v)}
        state = []
        for n in sorted(deps):
            if n in f.classes:
                state.append((n, self._class_state(f.classes[n])))
            if n in f.functions:
                state.append((n, freeze(f.functions[n])))
            if n in f.autograd_functions:  # Cls.apply's summary (autograd_functions.py)
                state.append((n, freeze(f.functions.get(autograd_functions.summary_key(n)))))
        builder_returns = tuple((k, freeze(v)) for k, v in f.builder_returns.items()
                                if k[0] in deps or (k[0] is None and k[1] in deps))
        return (
            tuple((k, freeze(v)) for k, v in f.hints.items() if own(k)),
            tuple((k, freeze(v)) for k, v in f.return_layouts.items() if own(k)),
            frozenset(f.random_functions),
            tuple(state),
            builder_returns,
        )

    # --------------------------------------------------------------- effects
    def _snapshot(self):
        f = self.f
        return (len(f.diagnostics), set(f.helpers), set(f.buffers), set(f.random_functions), f.todo_count,
                dict(f.weight_maps), dict(f.builder_returns), dict(f.return_layouts), dict(f.functions),
                dict(f.function_transposes),
                {n: (c.uses_rngs, c.uses_training) for n, c in f.classes.items()})

    def _effects(self, before, own: ClassInfo | None, calls: list):
        f = self.f
        (n_diag, helpers, buffers, random_functions, todo, weight_maps, builder_returns, return_layouts,
         functions, function_transposes, flags) = before

        def changed(after: dict, prior: dict) -> dict:
            return {k: v for k, v in after.items() if k not in prior or prior[k] is not v}

        own_state = None
        if own is not None:
            own_state = (dict(own.attrs), dict(own.methods), own.transposes, own.container, own.elements)
        return (
            f.diagnostics[n_diag:], f.helpers - helpers, f.buffers - buffers,
            f.random_functions - random_functions, f.todo_count - todo,
            changed(f.weight_maps, weight_maps), changed(f.builder_returns, builder_returns),
            changed(f.return_layouts, return_layouts), changed(f.functions, functions),
            changed(f.function_transposes, function_transposes),
            {n: (c.uses_rngs, c.uses_training) for n, c in f.classes.items()
             if (c.uses_rngs, c.uses_training) != flags.get(n)},
            own_state, list(calls),
        )

    def _replay(self, effects, own: ClassInfo | None):
        f = self.f
        (diags, helpers, buffers, random_functions, todo, weight_maps, builder_returns, return_layouts,
         functions, function_transposes, flags, own_state, calls) = effects
        f.diagnostics.extend(diags)
        f.helpers |= helpers
        f.buffers |= buffers
        f.random_functions |= random_functions
        f.todo_count += todo
        f.weight_maps.update(weight_maps)
        f.builder_returns.update(builder_returns)
        f.return_layouts.update(return_layouts)
        f.functions.update(functions)
        f.function_transposes.update(function_transposes)
        for n, (rngs, training) in flags.items():
            c = f.classes[n]
            c.uses_rngs, c.uses_training = c.uses_rngs or rngs, c.uses_training or training
        if own is not None and own_state is not None:
            attrs, methods, own.transposes, own.container, own.elements = own_state
            own.attrs, own.methods = dict(attrs), dict(methods)
        for owner, func, param, tag in calls:
            f.record_call(owner, func, param, tag)

    # ------------------------------------------------------------------ run
    def run(self, stmt, rewrite, *, owner: str | None = None, fname: str | None = None):
        """``rewrite()``'s result for ``stmt``, replayed when its inputs are
        unchanged since the last round."""
        f = self.f
        own = f.classes.get(owner) if owner is not None else None
        inputs = self.inputs(stmt, owner, fname)
        entry = self.entries.get(id(stmt))
        if entry is not None and entry[0] == inputs:
            self.reused += 1
            self._replay(entry[2], own)
            return entry[1]
        before = self._snapshot()
        calls: list = []
        f.call_log = calls
        try:
            result = rewrite()
        finally:
            f.call_log = None
        self.entries[id(stmt)] = (inputs, result, self._effects(before, own, calls))
        return result
