"""Argument sources that are safe wherever a rule's build puts them.

Builds compose their replacement as text (``f"({x} - {other})"``,
``f"{x}.reshape(...)"``), so an argument's source must mean the same
wherever it lands: ``x.sub(y + z)`` is ``x - (y + z)``, not ``x - y + z``, and
``pattern.sub(lambda m: ..., s)`` must still parse. :func:`operand` gives the
source of an argument, parenthesized unless it is an atom or a primary (a
name, a literal, a call, an attribute, a subscript, a display); :func:`tidy`
takes those added parentheses off again where the built expression holds the
argument as a call argument, a display element or an index, where they are
redundant.
"""

from __future__ import annotations

import libcst as cst

_code = cst.Module([]).code_for_node

# expressions that bind tighter than any operator a build may put around them
_PRIMARY = (
    cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float, cst.Imaginary,
    cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.Ellipsis,
    cst.List, cst.Set, cst.Dict, cst.ListComp, cst.SetComp, cst.DictComp,
)


def needs_parens(node: cst.BaseExpression) -> bool:
    if getattr(node, "lpar", None):
        return False  # parenthesized in the source (a tuple's, a generator's own)
    if isinstance(node, cst.Tuple):
        return True  # `x.view(a, b)` holds no bare tuple; `f(a, (1, 2))` must keep it one
    return not isinstance(node, _PRIMARY)


def operand(node: cst.BaseExpression, added: set[str] | None = None) -> str:
    """The source of ``node``, safe as an operand of any operator."""
    src = _code(node)
    if needs_parens(node):
        src = f"({src})"
        if added is not None:
            added.add(src)
    return src


def _strippable(node) -> bool:
    # parentheses a call argument or display element never needs (a tuple,
    # a generator and an assignment expression do)
    return not isinstance(node, (cst.Tuple, cst.GeneratorExp, cst.NamedExpr, cst.Yield))


class _Tidy(cst.CSTTransformer):
    def __init__(self, added: set[str]):
        self.added = added

    def _bare(self, value):
        if value.lpar and len(value.lpar) == 1 and _strippable(value) and _code(value) in self.added:
            return value.with_changes(lpar=[], rpar=[])
        return value

    def leave_Arg(self, original, updated):
        return updated.with_changes(value=self._bare(updated.value))

    def leave_Element(self, original, updated):
        return updated.with_changes(value=self._bare(updated.value))

    def leave_Index(self, original, updated):
        if isinstance(updated.value, cst.Lambda) or updated.star is not None:
            return updated  # a lambda's colon would read as a slice
        return updated.with_changes(value=self._bare(updated.value))


def tidy(node: cst.BaseExpression, added: set[str]) -> cst.BaseExpression:
    """``node`` without the parentheses :func:`operand` added where they are redundant."""
    if not added:
        return node
    src = _code(node)
    if not any(a in src for a in added):
        return node
    return node.visit(_Tidy(added))


def guarded_result(node: cst.BaseExpression) -> cst.BaseExpression:
    """A build's result stands where a call stood: parenthesized unless it is a primary."""
    if needs_parens(node):
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


def indexed_rank(rw, rank, elems) -> "int | None":
    """The rank of ``x[elems]`` for a tensor of rank ``rank``: integers drop an
    axis, ``None`` adds one, slices and ``...`` keep theirs; None when unknown
    (a tensor index)."""
    if rank is None:
        return None
    for e in elems:
        s = e.slice
        if isinstance(s, cst.Slice):
            continue
        if s.star is not None:
            return None
        v = s.value
        if isinstance(v, cst.Name) and v.value == "None":
            rank += 1
        elif isinstance(v, cst.Ellipsis):
            continue
        elif isinstance(v, (cst.List, cst.Tuple, cst.ListComp)):
            return None  # fancy indexing
        elif isinstance(v, cst.Integer) or (isinstance(v, cst.UnaryOperation) and isinstance(v.expression, cst.Integer)) \
                or rw.tag(v).kind == "other":
            rank -= 1
        else:
            return None
    return rank
