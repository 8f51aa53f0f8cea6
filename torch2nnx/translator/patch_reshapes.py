"""An undecided parameter cut into patches by a reshape: the model's image.

``B, C, H, W = x.shape`` then ``x.reshape(B, C, H // p, p, W // p, p)``
(NaFlexViT's ``batch_patchify``, pixel-shuffle style patch embeddings): the
batch and channel sizes kept in front and every spatial axis split in two is
an image patchify, whatever the names. Decided plain (what any reshape of an
undecided parameter decides), the model took its image in torch order where a
conv-less patch embedding was its only reader, and a caller holding the image
channels-last handed it on as it was (``reshape (2, 32, 32, 3) into
(2, 32, 2, 16, 0, 16)``). Decided channels-last, the reshape reads torch's order
through one transpose, and the unpacking is remapped (shape_reads.py).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from . import layout as L


def note_names(rw, target: cst.BaseExpression, vt: L.Tag) -> None:
    """``b, c, h, w = x.shape`` of the undecided parameter ``x``: which name holds
    which of its sizes (a name bound again elsewhere forgets it: statements.py)."""
    if vt.kind != L.SHAPE or not vt.param or rw.resolve(L.Tag(L.FREE, param=vt.param)).kind != L.FREE:
        return
    elems = list(target.elements)
    if any(isinstance(e, cst.StarredElement) for e in elems):
        return
    for i, e in enumerate(elems):
        if isinstance(e.value, cst.Name):
            rw.free_shape_names[e.value.value] = (vt.param, i, len(elems))


def image_of(rw, t: L.Tag, dims_nodes) -> Optional[L.Tag]:
    """The image layout of the undecided parameter tagged ``t`` (or a value in its
    provisional torch order, after an ``F.pad``: its ``origin``) reshaped to
    ``dims_nodes``, if the reshape cuts it into patches."""
    param = t.param if t.kind == L.FREE else t.origin if t.kind == L.TENSOR and not t.channels_last else None
    if not param or len(dims_nodes) < 6:
        return None
    src = [rw.free_shape_names.get(n.value) if isinstance(n, cst.Name) else None for n in dims_nodes[:2]]
    if src[0] is None or src[1] is None or src[0][0] != param or src[1][0] != param:
        return None
    rank = src[0][2]
    if (src[0][1], src[1][1]) != (0, 1) or rank < 4 or len(dims_nodes) != 2 + 2 * (rank - 2):
        return None
    return L.channels_last(rank)
