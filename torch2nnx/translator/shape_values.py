"""A shape taken whole as the sizes of a reshape.

``x_norm.view(x.shape)`` (transformers' masked group norm: a grouped, torch-order
value brought back to its input's shape) reads ``x.shape``; when ``x`` is held
channels-last that tuple is in the physical order, and the reshape would lay
torch-order data out in it: wrong (or failing) unless the channels equal the
length. Handed whole to a reshape, a channels-last tensor's shape is read in
torch's order (``tuple(s[a] for a in axes)``); unpacked or indexed it is
remapped where it is read (FunctionRewriter.bind_target, leave_Subscript).
"""

from __future__ import annotations

import libcst as cst

from . import layout as L


def torch_order_source(rw, node: cst.BaseExpression, src: str) -> str | None:
    """``src`` (the source of ``node``, maybe starred) in torch's order when
    ``node`` is the shape of a channels-last tensor; else None."""
    if node is None:
        return None
    t = rw.tag(node)
    if t.kind != L.SHAPE or t.perm is None or L.is_identity(t.perm):
        return None
    star = "*" if src.startswith("*") else ""
    body = src[1:] if star else src
    axes = tuple(t.perm.index(i) for i in range(len(t.perm)))
    return f"{star}tuple(({body})[a] for a in {axes})"
