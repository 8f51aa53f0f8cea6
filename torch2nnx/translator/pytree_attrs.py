"""Attributes NNX must know hold data.

An NNX module decides on an attribute's first assignment whether it is data
(arrays, modules) or static (None, numbers); a later module in a static
attribute is an error. torch code often declares a submodule slot first:

    self.AuxLogits: Optional[nn.Module] = None
    if aux_logits:
        self.AuxLogits = InceptionAux(768, num_classes)

so a ``None`` assigned to an attribute that the class also assigns something
that may be data becomes ``nnx.data(None)``.
"""

from __future__ import annotations

import libcst as cst

from .fastvisit import FastTransformer, FastVisitor

_STATIC = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.Integer, cst.Float)


def _self_attr(target) -> str | None:
    if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self":
        return target.attr.value
    return None


def _is_none(value) -> bool:
    return isinstance(value, cst.Name) and value.value == "None"


def _maybe_data(value) -> bool:
    if _is_none(value) or isinstance(value, _STATIC):
        return False
    if isinstance(value, cst.Name) and value.value in ("True", "False"):
        return False
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value.endswith("data_slot"):
        return False  # the runtime helper makes it data itself when it holds data (classes._DataNone)
    return True


class _Assigned(FastVisitor):
    def __init__(self):
        self.none: set[str] = set()
        self.data: set[str] = set()

    def _record(self, target, value):
        name = _self_attr(target)
        if name is None or value is None:
            return
        (self.none if _is_none(value) else self.data if _maybe_data(value) else set()).add(name)

    def visit_Assign(self, node):
        for t in node.targets:
            self._record(t.target, node.value)

    def visit_AnnAssign(self, node):
        self._record(node.target, node.value)


class _WrapNone(FastTransformer):
    def __init__(self, names: set[str]):
        self.names = names

    def _wrap(self, target, value):
        return _self_attr(target) in self.names and _is_none(value)

    def leave_Assign(self, original, updated):
        if len(updated.targets) == 1 and self._wrap(updated.targets[0].target, updated.value):
            return updated.with_changes(value=cst.parse_expression("nnx.data(None)"))
        return updated

    def leave_AnnAssign(self, original, updated):
        if updated.value is not None and self._wrap(updated.target, updated.value):
            return updated.with_changes(value=cst.parse_expression("nnx.data(None)"))
        return updated


def data_slots(cls: cst.ClassDef) -> cst.ClassDef:
    """``self.x = None`` as ``nnx.data(None)`` where the class may also put data in ``x``."""
    seen = _Assigned()
    seen.walk(cls)
    names = seen.none & seen.data
    if not names:
        return cls
    return _WrapNone(names).walk(cls)
