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


# --- layout conversions of values that may be None --------------------------------
#
# A layout conversion (a transpose the layout pass adds) on a value that may be
# None must keep None: timm's MViTv2 ``reshape_pre_pool`` returns ``x, cls_tok``
# with ``cls_tok = None`` when there is no class token, and its callers hand
# ``q_tok`` on to ``reshape_post_pool(q, heads, q_tok)``. A conversion of such a
# name is guarded: ``jnp.transpose(t, axes) if t is not None else None``.
#
# Only what the code shows may be None counts (locals are never guessed from an
# unknown call): a local bound to ``None``, to a conditional expression with a
# None branch, or to a position of what a function or method of the file returns
# that may be None (a returned ``None``, such a local, or ``Optional[...]`` in the
# return annotation, at that position of a tuple).


def _none_value(value) -> bool:
    if isinstance(value, cst.Name) and value.value == "None":
        return True
    if isinstance(value, cst.IfExp):
        return _none_value(value.body) or _none_value(value.orelse)
    return False


class _NoneBindings(FastVisitor):
    """Names a function binds (outside nested functions) to ``None`` or to what
    ``optional_at(call)`` says may be None at a position of its result."""

    def __init__(self, optional_at=None):
        self.optional_at = optional_at or (lambda call: frozenset())
        self.names: set[str] = set()

    def visit_FunctionDef(self, node):
        return False

    def visit_Lambda(self, node):
        return False

    def _bind(self, target, value):
        if isinstance(target, cst.Name):
            if _none_value(value) or (isinstance(value, cst.Call) and None in self.optional_at(value)):
                self.names.add(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            elts = [e.value for e in target.elements]
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elts) \
                    and not any(isinstance(e, cst.StarredElement) for e in value.elements):
                for t, v in zip(elts, (e.value for e in value.elements)):
                    self._bind(t, v)
            elif isinstance(value, cst.Call) and not any(isinstance(e, cst.StarredElement) for e in target.elements):
                optional = self.optional_at(value)
                for i, t in enumerate(elts):
                    if i in optional and isinstance(t, cst.Name):
                        self.names.add(t.value)

    def visit_Assign(self, node):
        for t in node.targets:
            self._bind(t.target, node.value)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self._bind(node.target, node.value)


class _Returns(FastVisitor):
    def __init__(self):
        self.values: list = []

    def visit_FunctionDef(self, node):
        return False

    def visit_Lambda(self, node):
        return False

    def visit_Return(self, node):
        self.values.append(node.value)


def _optional_annotation(ann) -> bool:
    if isinstance(ann, cst.Subscript) and isinstance(ann.value, (cst.Name, cst.Attribute)):
        head = ann.value.value if isinstance(ann.value, cst.Name) else ann.value.attr.value
        if head == "Optional":
            return True
        if head == "Union":
            return any(isinstance(e.slice, cst.Index) and _none_value(e.slice.value) for e in ann.slice)
    if isinstance(ann, cst.BinaryOperation) and isinstance(ann.operator, cst.BitOr):
        return _none_value(ann.left) or _none_value(ann.right) or _optional_annotation(ann.left) \
            or _optional_annotation(ann.right)
    return False


def _returned_optional(func: cst.FunctionDef) -> frozenset:
    """Positions of ``func``'s result that may be None: tuple indexes, or None
    for the value itself."""
    out: set = set()
    ann = func.returns.annotation if func.returns is not None else None
    if ann is not None:
        if _optional_annotation(ann):
            out.add(None)
        elif isinstance(ann, cst.Subscript) and isinstance(ann.value, (cst.Name, cst.Attribute)) and \
                (ann.value.value if isinstance(ann.value, cst.Name) else ann.value.attr.value) in ("Tuple", "tuple"):
            for i, e in enumerate(ann.slice):
                if isinstance(e.slice, cst.Index) and _optional_annotation(e.slice.value):
                    out.add(i)
    v = _NoneBindings()
    v.walk(func.body)
    r = _Returns()
    r.walk(func.body)
    for value in r.values:
        if value is None or _none_value(value) or (isinstance(value, cst.Name) and value.value in v.names):
            out.add(None)
        elif isinstance(value, cst.Tuple):
            for i, e in enumerate(value.elements):
                if isinstance(e, cst.StarredElement):
                    break
                if _none_value(e.value) or (isinstance(e.value, cst.Name) and e.value.value in v.names):
                    out.add(i)
    return frozenset(out)


def optional_returns(module: cst.Module, f) -> dict:
    """(class or None, function name) -> positions of its result that may be None
    (for the functions and methods of the file that have some)."""
    out = {}
    for s in module.body:
        defs = [(None, s)] if isinstance(s, cst.FunctionDef) else []
        if isinstance(s, cst.ClassDef):
            defs = [(s.name.value, m) for m in s.body.body if isinstance(m, cst.FunctionDef)]
        for owner, fn in defs:
            optional = _returned_optional(fn)
            if optional:
                out[(owner, fn.name.value)] = optional
    return out


def optional_locals(func: cst.FunctionDef, f, cls_name: str | None) -> set[str]:
    """Names ``func`` binds to a value that may be None (what the code shows)."""
    table = getattr(f, "optional_returns", None) or {}

    def optional_at(call: cst.Call) -> frozenset:
        fn = call.func
        if isinstance(fn, cst.Name) and fn.value in f.local_functions:
            return table.get((None, fn.value), frozenset())
        if isinstance(fn, cst.Attribute) and isinstance(fn.value, cst.Name) and fn.value.value == "self" \
                and cls_name is not None:
            k, seen = cls_name, set()
            while k in f.classes and k not in seen:
                seen.add(k)
                if (k, fn.attr.value) in table:
                    return table[(k, fn.attr.value)]
                k = next((b for b in f.classes[k].bases if b in f.classes), None)
        return frozenset()

    v = _NoneBindings(optional_at)
    v.walk(func.body)
    return v.names


def guarded(name: str, converted: str) -> cst.BaseExpression:
    """A conversion of a value that may be None keeps None."""
    # parenthesized: the result may be the base of an attribute or a call (`.reshape(...)`)
    return cst.parse_expression(f"({converted} if {name} is not None else None)")
