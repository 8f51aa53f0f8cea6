"""New tensors that vary along the batch axis alone: they take their input's layout.

Stochastic depth's noise (torchvision's ``stochastic_depth``, timm's
``drop_path``) is made with sizes read off its input, ``(N, 1, ..., 1)`` or all
ones (``[x.shape[0]] + [1] * (x.ndim - 1)``, ``(1,) * x.ndim``), and multiplies
it. Such a tensor is the same array in every layout that keeps the batch axis
first, so it is tagged like the input it was sized from. Tagged as a new
torch-order tensor instead, it decided its input torch order: the function was no
longer layout-generic, and when one model of a run handed it an image while
another handed it tensors torch itself holds as (B, H, W, C) (torchvision's MaxViT
and Swin share ``StochasticDepth``), the second caller's tensors were moved as if
they were images.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from . import layout as L
from .layout import Tag


def _name(node) -> Optional[str]:
    return node.value if isinstance(node, cst.Name) else None


def _int(node) -> Optional[int]:
    if isinstance(node, cst.Integer):
        return int(node.value)
    return None


def _batch_size(node, names=None) -> Optional[str]:
    """``x.shape[0]`` / ``x.size(0)``, or a name bound to it (``batch_size``):
    the tensor's name."""
    if names and _name(node) in names:
        return names[node.value]
    if isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) \
            and _int(node.slice[0].slice.value) == 0 and isinstance(node.value, cst.Attribute) \
            and node.value.attr.value == "shape":
        return _name(node.value.value)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "size" \
            and len(node.args) == 1 and _int(node.args[0].value) == 0:
        return _name(node.func.value)
    return None


def _rank(node) -> Optional[str]:
    """``x.ndim`` / ``x.dim()`` / ``len(x.shape)``: the tensor's name."""
    if isinstance(node, cst.Attribute) and node.attr.value == "ndim":
        return _name(node.value)
    if isinstance(node, cst.Call) and not node.args:
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in ("dim", "ndimension"):
            return _name(node.func.value)
    if isinstance(node, cst.Call) and _name(node.func) == "len" and len(node.args) == 1:
        a = node.args[0].value
        if isinstance(a, cst.Attribute) and a.attr.value == "shape":
            return _name(a.value)
    return None


def _ones(node, less: int) -> Optional[str]:
    """``[1] * (x.ndim - less)`` (or a tuple, either operand order): the tensor's name."""
    if not (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply)):
        return None
    for seq, count in ((node.left, node.right), (node.right, node.left)):
        if isinstance(seq, (cst.List, cst.Tuple)) and len(seq.elements) == 1 and _int(seq.elements[0].value) == 1:
            if less == 0:
                return _rank(count)
            if isinstance(count, cst.BinaryOperation) and isinstance(count.operator, cst.Subtract) \
                    and _int(count.right) == less:
                return _rank(count.left)
    return None


def sizes_of(node, names: dict[str, str], batch=None) -> Optional[tuple[str, Optional[int]]]:
    """The tensor whose batch-only sizes ``node`` is, with the rank the sizes
    fix (None: the tensor's own). ``names``: names bound to such sizes;
    ``batch``: names bound to a batch size."""
    if _name(node) in names:
        return names[node.value], None
    if (x := _ones(node, 0)) is not None:
        return x, None
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add) \
            and isinstance(node.left, (cst.List, cst.Tuple)) and len(node.left.elements) == 1:
        x = _batch_size(node.left.elements[0].value)
        if x is not None and _ones(node.right, 1) == x:
            return x, None
    if isinstance(node, (cst.List, cst.Tuple)):
        return literal_sizes([e.value for e in node.elements], batch)
    return None


def literal_sizes(nodes, batch=None) -> Optional[tuple[str, int]]:
    """``(x.shape[0], 1, 1, 1)``: the tensor and the rank."""
    if len(nodes) < 2 or any(_int(n) != 1 for n in nodes[1:]):
        return None
    x = _batch_size(nodes[0], batch)
    return (x, len(nodes)) if x is not None else None


class _Assigned(cst.CSTVisitor):
    def __init__(self):
        self.values: dict[str, list] = {}

    def visit_Assign(self, node):
        for t in node.targets:
            if isinstance(t.target, cst.Name):
                self.values.setdefault(t.target.value, []).append(node.value)
            else:  # a, b = ...: nothing known of the names
                for n in _targets(t.target):
                    self.values.setdefault(n, []).append(None)

    def visit_AnnAssign(self, node):
        if isinstance(node.target, cst.Name):
            self.values.setdefault(node.target.value, []).append(node.value)

    def visit_AugAssign(self, node):
        if isinstance(node.target, cst.Name):
            self.values.setdefault(node.target.value, []).append(None)

    def visit_FunctionDef(self, node):
        return node is self.root

    def visit_ClassDef(self, node):
        return False


def _targets(node):
    if isinstance(node, cst.Name):
        yield node.value
    elif isinstance(node, (cst.Tuple, cst.List)):
        for e in node.elements:
            yield from _targets(e.value)


def size_names(body) -> tuple[dict[str, str], dict[str, str]]:
    """Names every assignment in ``body`` binds to batch-only sizes of one
    tensor (``size`` in stochastic_depth's two branches), and names bound to a
    tensor's batch size (``batch_size = inputs.shape[0]``): name -> tensor."""
    v = _Assigned()
    v.root = body
    body.visit(v)
    sizes: dict[str, str] = {}
    batch: dict[str, str] = {}
    for name, values in v.values.items():
        got = {_batch_size(value) if value is not None else None for value in values}
        if len(got) == 1 and (x := got.pop()) is not None:
            batch[name] = x
    for name, values in v.values.items():
        got = {sizes_of(value, {}, batch) if value is not None else None for value in values}
        if len(got) == 1 and (one := got.pop()) is not None and one[1] is None:
            sizes[name] = one[0]
    return sizes, batch


def like_input(rw, pos_nodes) -> Optional[Tag]:
    """The tag of a new tensor made with batch-only sizes (the positional size
    nodes of a creation call), or None: its input's tag where that layout keeps
    the batch axis first."""
    if rw.root is None:
        return None
    if getattr(rw, "_size_names", None) is None:
        rw._size_names = size_names(rw.root)
    sizes, batch = rw._size_names
    got = sizes_of(pos_nodes[0], sizes, batch) if len(pos_nodes) == 1 else literal_sizes(pos_nodes, batch)
    if got is None:
        return None
    x, rank = got
    t = rw.resolve(rw.env.get(x, L.UNKNOWN_TAG))
    if t.kind == L.FREE:
        return t
    if t.kind != L.TENSOR or (t.perm is not None and t.perm[0] != 0):
        return None
    if rank is not None and L.rank_of(t) not in (None, rank):
        return None
    return t.with_(one=False, per_channel=False, origin=None)
