"""``self.forward = self.<method>`` chosen in ``__init__``: a ``forward`` that dispatches.

timm's FasterNet picks its forward when it is built::

    if forward == "slicing":
        self.forward = self.forward_slicing
    elif forward == "split_cat":
        self.forward = self.forward_split_cat

torch calls the instance attribute. An NNX module is called through its class's
``__call__``, and a bound method kept as an attribute would still refer to the
module it was taken from, while ``nnx.jit`` and ``nnx.grad`` run a copy (the
copy's parameters would never be read: zero gradients). So, before the
rewrite, in a class without a ``forward`` of its own, each such assignment
records the method's name (``self._forward_method = "forward_slicing"``, a
static string) and the class gains a ``forward`` calling the chosen method by
name; the rest of the translation (``__call__``, layouts of the methods'
arguments) sees ordinary method calls. Python semantics are unchanged apart
from ``self.forward`` itself no longer being an attribute.
"""

from __future__ import annotations

import libcst as cst

from .fastvisit import FastTransformer

ATTR = "_forward_method"


def _self_attr(node, name: str | None = None) -> str | None:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self" \
            and (name is None or node.attr.value == name):
        return node.attr.value
    return None


class _Choices(FastTransformer):
    """``self.forward = self.m`` (m a method of the class) -> ``self._forward_method = "m"``."""

    def __init__(self, methods: set[str]):
        self.methods = methods
        self.chosen: list[str] = []

    def visit_FunctionDef(self, node):
        return False  # a nested function's self is not the module's

    def visit_ClassDef(self, node):
        return False  # a nested class is its own

    def leave_Assign(self, original, updated):
        if len(updated.targets) != 1 or _self_attr(updated.targets[0].target, "forward") is None:
            return updated
        m = _self_attr(updated.value)
        if m is None or m not in self.methods:
            return updated
        if m not in self.chosen:
            self.chosen.append(m)
        return updated.with_changes(targets=[cst.AssignTarget(target=cst.parse_expression(f"self.{ATTR}"))],
                                    value=cst.SimpleString(repr(m)))


def _signature(fn: cst.FunctionDef) -> tuple[str, str] | None:
    """(parameters, arguments) of a method without self, or None when not simple."""
    p = fn.params
    if p.posonly_params or p.star_arg not in (None, cst.MaybeSentinel.DEFAULT) or p.kwonly_params or p.star_kwarg:
        return None
    names = [q.name.value for q in p.params]
    if not names or names[0] != "self":
        return None
    params = cst.Module([]).code_for_node(p.with_changes(params=p.params[1:]))
    return params, ", ".join(names[1:])


def _forward(chosen: list[str], funcs: dict[str, cst.FunctionDef]) -> cst.FunctionDef:
    sigs = [_signature(funcs[m]) for m in chosen]
    if all(s is not None and s[1] == sigs[0][1] for s in sigs):
        params, args = sigs[0]
    else:
        params, args = "*args, **kwargs", "*args, **kwargs"
    lines = [f"def forward(self, {params}):" if params else "def forward(self):",
             '    """The forward method chosen in __init__ (torch assigned self.forward)."""']
    for m in chosen[:-1]:
        lines += [f"    if self.{ATTR} == {m!r}:", f"        return self.{m}({args})"]
    lines.append(f"    return self.{chosen[-1]}({args})")
    return cst.parse_statement("\n".join(lines) + "\n")


class _Classes(FastTransformer):
    def visit_FunctionDef(self, node):
        return False

    def leave_ClassDef(self, original, updated):
        body = list(updated.body.body)
        funcs = {s.name.value: s for s in body if isinstance(s, cst.FunctionDef)}
        if "forward" in funcs or "__init__" not in funcs:
            return updated
        choices = _Choices(set(funcs) - {"__init__"})
        init = funcs["__init__"].with_changes(body=choices.walk(funcs["__init__"].body))
        if not choices.chosen:
            return updated
        new = [init if s is funcs["__init__"] else s for s in body]
        new.append(_forward(choices.chosen, funcs))
        return updated.with_changes(body=updated.body.with_changes(body=new))


def add_chosen_forwards(module: cst.Module, source: str) -> cst.Module:
    """Every class whose ``__init__`` assigns ``self.forward`` one of its methods, dispatching."""
    if "self.forward =" not in source:
        return module
    return _Classes().walk(module)
