"""A tensor argument written in place by a function that returns nothing.

``def _apply_pos_embed(self, x, grid) -> None: x.add_(pos)`` (timm's NaFlexViT):
torch changes the caller's tensor. A JAX array cannot change, so the rewritten
``x = x + pos`` rebinds a local name and the caller kept the old value: the
position embedding was lost without a marker. The function returns the
argument it writes instead, and a call written as a statement rebinds the name
the caller handed: ``x = self._apply_pos_embed(x, grid)``. So does one that
already returns that argument and nothing else (torchvision MViT's
``_add_shortcut``: ``x.add_(shortcut); return x``, called as a statement). A
function that returns another value, or writes more than one argument, is left
as it was.
"""

from __future__ import annotations

import libcst as cst


def begin(rw, params) -> None:
    rw.param_aliases = set(params) - {"self"}  # names still bound to their argument
    rw.written_params = set()
    rw.rebind_calls = {}  # id of a rewritten call -> the name its statement rebinds


def note_write(rw, target) -> None:
    """``x.add_(y)`` rewritten to ``x = ...``: ``x`` may be the caller's tensor."""
    if isinstance(target, cst.Name) and target.value in rw.param_aliases:
        rw.written_params.add(target.value)


def forget(rw, name: str) -> None:
    """``x = ...``: from here ``x`` is not the caller's tensor."""
    rw.param_aliases.discard(name)


def finish(rw, func: cst.FunctionDef, summary, kind: str) -> cst.FunctionDef:
    """The function returns the one argument it writes (and says so in its summary)."""
    summary.writes_params = frozenset(rw.written_params)
    if kind == "init" or len(rw.written_params) != 1:
        return func
    name = next(iter(rw.written_params))
    if rw.returns:
        if name in rw.param_aliases and _returns_only(func.body, name):
            summary.writes_param = name  # `return x` already: callers' statements rebind
        return func
    summary.writes_param = name
    body = func.body.visit(_ReturnParam(name))
    last = body.body[-1] if body.body else None
    ends = isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], (cst.Return, cst.Raise))
    if not ends:
        body = body.with_changes(body=list(body.body) + [cst.parse_statement(f"return {name}\n")])
    return func.with_changes(body=body)


def rebound_name(s, pname: str, arg) -> str | None:
    """The caller's name that ``arg``, handed for ``pname`` to the function
    summarised ``s``, rebinds: a plain name handed for the argument it writes."""
    if s.writes_param == pname and isinstance(arg.value, cst.Name):
        return arg.value.value
    return None


def note_call(rw, call, name: str | None) -> None:
    """``call`` (the rewritten node) rebinds ``name`` where it stands as a statement."""
    if name is not None:
        rw.rebind_calls[id(call)] = name


def statement(rw, updated):
    """``f(x)`` as a statement, ``f`` writing its argument ``x``: ``x = f(x)``."""
    if len(updated.body) != 1 or not isinstance(updated.body[0], cst.Expr):
        return updated
    name = rw.rebind_calls.get(id(updated.body[0].value))
    if name is None:
        return updated
    assign = cst.Assign(targets=[cst.AssignTarget(target=cst.Name(name))], value=updated.body[0].value)
    return updated.with_changes(body=[assign])


class _ReturnParam(cst.CSTTransformer):
    """Bare ``return`` -> ``return name``, outside nested functions and classes."""

    def __init__(self, name: str):
        self.name = name

    def visit_FunctionDef(self, node):
        return False

    def visit_ClassDef(self, node):
        return False

    def visit_Lambda(self, node):
        return False

    def leave_Return(self, original, updated):
        if updated.value is None:
            return updated.with_changes(value=cst.Name(self.name),
                                        whitespace_after_return=cst.SimpleWhitespace(" "))
        return updated


def _returns_only(body, name: str) -> bool:
    """Every return of the function (outside nested ones) is ``return name``."""
    finder = _Returns()
    body.visit(finder)
    return bool(finder.values) and all(isinstance(v, cst.Name) and v.value == name for v in finder.values)


class _Returns(cst.CSTVisitor):
    def __init__(self):
        self.values = []

    def visit_FunctionDef(self, node):
        return False

    def visit_ClassDef(self, node):
        return False

    def visit_Lambda(self, node):
        return False

    def visit_Return(self, node):
        self.values.append(node.value)
