"""Locals that may hold ``None`` where torch code registers them as buffers.

``self.register_buffer("attn_mask", attn_mask)`` with ``attn_mask`` what a
helper returns (timm's ``get_attn_mask`` gives a mask, or None when the
window is not shifted) sets the attribute to None in torch; the forward pass
then asks ``mask is not None``. A Variable wrapping None is not None, and its
``.shape`` fails: such a buffer is the Variable when there is a value and
``nnx.data(None)`` when there is none (decided at run time).

A local may be None when some assignment to it in the function is ``None``,
a conditional expression with a None branch, or a call of code the rules do
not know (a function or method of the file returning what it likes).
"""

from __future__ import annotations

import libcst as cst

from ..rules import registry
from .fastvisit import FastVisitor


def _may_be_none(value, f) -> bool:
    if isinstance(value, cst.Name) and value.value == "None":
        return True
    if isinstance(value, cst.IfExp):
        return _may_be_none(value.body, f) or _may_be_none(value.orelse, f)
    if isinstance(value, cst.BooleanOperation):
        return _may_be_none(value.left, f) or _may_be_none(value.right, f)
    if isinstance(value, cst.Call):
        func = value.func
        q = f.imports.qualify(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
        if q is not None and registry.lookup(q) is not None:
            return False  # torch.zeros(...), a layer: a value
        if isinstance(func, cst.Attribute) and not (isinstance(func.value, cst.Name) and func.value.value == "self"):
            return False  # x.view(...), mask.float(): a tensor method
        return True
    return False


class _Assigns(FastVisitor):
    def __init__(self, f):
        self.f = f
        self.names: set[str] = set()

    def visit_FunctionDef(self, node):
        return False

    def visit_Lambda(self, node):
        return False

    def visit_Assign(self, node):
        for t in node.targets:
            if isinstance(t.target, cst.Name) and _may_be_none(node.value, self.f):
                self.names.add(t.target.value)

    def visit_AnnAssign(self, node):
        if isinstance(node.target, cst.Name) and node.value is not None and _may_be_none(node.value, self.f):
            self.names.add(node.target.value)


def maybe_none_locals(func: cst.FunctionDef, f) -> set[str]:
    """Names ``func`` binds (not in nested functions) to a value that may be None."""
    v = _Assigns(f)
    v.walk(func.body)
    return v.names


def optional_buffer(cls_name: str, name: str) -> cst.BaseExpression:
    """``Buffer(name) if name is not None else nnx.data(None)``."""
    return cst.parse_expression(f"{cls_name}({name}) if {name} is not None else nnx.data(None)")
