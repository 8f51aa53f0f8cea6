"""A layer whose layout a constructor flag chooses.

timm's ``GlobalResponseNorm(dim, channels_last=...)`` works on NCHW or NHWC
tensors: ``__init__`` picks, under the flag, the dims and the per-channel shape
that ``forward`` then reads off ``self``::

    if channels_last:
        self.spatial_dim = (1, 2); self.channel_dim = -1; self.wb_shape = (1, 1, 1, -1)
    else:
        self.spatial_dim = (2, 3); self.channel_dim = 1; self.wb_shape = (1, -1, 1, 1)
    ...
    x.norm(dim=self.spatial_dim); x.mean(dim=self.channel_dim); w.view(self.wb_shape)

The same class is used both ways (an MLP of 1x1 convs hands it images, one of
Linears a tensor already permuted to NHWC), so ``forward``'s input has no one
layout and is taken as it is. Under the output contract the image a torch
instance takes as NCHW is channels-last in the translation: physically the
same NHWC data as the other branch's. So the branch written for NCHW images
(its per-channel shape ``(1, -1, 1, 1)``, its spatial dims ``(2, 3)``) gets its
literals in channels-last terms (``(1, 2)``, ``3``, ``(1, 1, 1, -1)``), and each
instance reads its input as its torch twin does. Only when ``forward`` takes
its input undecided (as it is): a class whose input the analysis decided keeps
its literals, read through that layout.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from . import layout as L

_DIM_KEYWORDS = ("dim", "axis", "dims")
_SHAPE_METHODS = ("view", "reshape", "expand")


def _self_attr(node) -> Optional[str]:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
        return node.attr.value
    return None


def _literal(node):
    """An int, or a tuple/list of ints (negative ones too), else None."""
    if isinstance(node, cst.Integer):
        return int(node.value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) \
            and isinstance(node.expression, cst.Integer):
        return -int(node.expression.value)
    if isinstance(node, (cst.Tuple, cst.List)):
        vals = [_literal(e.value) for e in node.elements]
        if vals and all(isinstance(v, int) for v in vals):
            return tuple(vals)
    return None


class _Uses(cst.CSTVisitor):
    """Attributes of ``self`` a method reads as dims (``dim=self.a``) or as a view
    shape (``t.view(self.s)``)."""

    def __init__(self):
        self.dims: set[str] = set()
        self.shapes: set[str] = set()

    def visit_Call(self, node: cst.Call):
        for a in node.args:
            if a.keyword is not None and a.keyword.value in _DIM_KEYWORDS:
                name = _self_attr(a.value)
                if name:
                    self.dims.add(name)
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in _SHAPE_METHODS \
                and len(node.args) == 1 and node.args[0].keyword is None and node.args[0].star == "":
            name = _self_attr(node.args[0].value)
            if name:
                self.shapes.add(name)


def _method(cls: cst.ClassDef, name: str) -> Optional[cst.FunctionDef]:
    for st in cls.body.body:
        if isinstance(st, cst.FunctionDef) and st.name.value == name:
            return st
    return None


def _assigns(block) -> list[tuple[str, object, cst.Assign]]:
    out = []
    body = block.body if isinstance(block, cst.IndentedBlock) else [block]
    for st in body:
        if isinstance(st, cst.SimpleStatementLine):
            for small in st.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    name = _self_attr(small.targets[0].target)
                    lit = _literal(small.value)
                    if name is not None and lit is not None:
                        out.append((name, lit, small))
    return out


def _image_rank(assigns, dims: set[str], shapes: set[str]) -> Optional[int]:
    """The rank of the NCHW image a branch's literals are written for: a per-channel
    view shape (1, -1, 1, 1) / (1, C, 1, 1, 1), or torch's spatial dims (2, 3)."""
    for name, lit, _ in assigns:
        if name in shapes and isinstance(lit, tuple) and len(lit) >= 4 \
                and all(v == 1 for i, v in enumerate(lit) if i != 1) and lit[1] != 1:
            return len(lit)
    for name, lit, _ in assigns:
        if name in dims and isinstance(lit, tuple) and len(lit) >= 2 and lit == tuple(range(2, 2 + len(lit))):
            return len(lit) + 2
    return None


def _to_cl(name, lit, rank, dims, shapes):
    perm = L.cl_perm(rank)
    if name in shapes and isinstance(lit, tuple) and len(lit) == rank:
        return tuple(lit[p] for p in perm)
    if name in dims:
        vals = lit if isinstance(lit, tuple) else (lit,)
        if not all(-rank <= v < rank for v in vals):
            return None
        moved = tuple(L.physical_axis(perm, v) for v in vals)
        return moved if isinstance(lit, tuple) else moved[0]
    return None


def _code(v) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(str(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return str(v)


def plan(cls: cst.ClassDef) -> dict:
    """{(attribute, literal): channels-last literal code} for the assignments in the
    image branch of an ``if`` in ``__init__`` whose other branch is not written for
    images, of attributes ``forward`` reads as dims or view shapes."""
    init, fwd = _method(cls, "__init__"), _method(cls, "forward")
    if init is None or fwd is None:
        return {}
    uses = _Uses()
    fwd.visit(uses)
    if not uses.dims and not uses.shapes:
        return {}
    out: dict = {}

    class _Ifs(cst.CSTVisitor):
        def visit_If(self, node: cst.If):
            if node.orelse is None or not isinstance(node.orelse, cst.Else):
                return
            body, other = _assigns(node.body), _assigns(node.orelse.body)
            for image, plain in ((body, other), (other, body)):
                rank = _image_rank(image, uses.dims, uses.shapes)
                if rank is None or _image_rank(plain, uses.dims, uses.shapes) is not None:
                    continue
                # the other branch sets the same attributes: the flag chooses the layout
                if not {n for n, _, _ in image if n in uses.dims | uses.shapes} <= {n for n, _, _ in plain}:
                    continue
                both = {(n, lit) for n, lit, _ in plain}
                for name, lit, _ in image:
                    if (name, lit) in both:
                        continue
                    new = _to_cl(name, lit, rank, uses.dims, uses.shapes)
                    if new is not None:
                        out[(name, lit)] = _code(new)

    init.visit(_Ifs())
    return out


def rewrite(rw, original: cst.Assign, updated: cst.Assign) -> Optional[cst.Assign]:
    """``self.a = (2, 3)`` in the NCHW branch of a flag-chosen layout: the literal in
    channels-last terms, when the class's forward takes its input as it is."""
    cls = rw.cls
    if cls is None or rw.func_name != "__init__" or len(original.targets) != 1:
        return None
    name = _self_attr(original.targets[0].target)
    lit = _literal(original.value) if name else None
    if lit is None:
        return None
    cached = getattr(cls, "_flag_layouts", None)
    if cached is None:
        cached = plan(cls.node)
        cls._flag_layouts = cached
    new = cached.get((name, lit))
    if new is None or not _takes_as_is(cls):
        return None
    return updated.with_changes(value=cst.parse_expression(new))


def _takes_as_is(cls) -> bool:
    s = cls.methods.get("__call__")
    if s is None:
        return True
    params = [p for p in s.params if p != "self"]
    t = s.takes.get(params[0]) if params else None
    return t is None or not (t.kind in (L.TENSOR, L.SEQ) and t.channels_last)
