"""Shapes of undecided parameters unpacked before their layout is known.

``B, C, H, W = x.shape`` on a parameter no caller has given a layout (twins'
``PatchEmbed``, reached through a list of stages) is read in torch order; when
a layer further down then takes the parameter channels-last (the patch conv),
every caller hands it channels-last and the unpacked sizes are wrong (H read
the width, W the channels: ``cannot reshape (2, 64, 64) into (2, 8, 0, 64)``).
The parameter is remembered here, and a function that ends up taking it in a
channels-last layout takes it so from the start next round (kept with the
return layouts, as for F.pad's origin), so the unpacking is remapped
(``b, h, w, c = x.shape``). A parameter that stays undecided, or is decided
plain, is left alone: layout-generic code keeps taking each caller's tensor as
it is.

The same holds for any read of such a parameter's shape (``H, W = x.shape[-2:]``
in a check, ``x.size(2)``), and for the parameter handed while undecided to a
translated function or method that reads it (timm's ``_assert_raw_img_conformant(x)``
before the patch embedding, NaFlexViT's ``batch_patchify(x, ...)`` in the branch
without the conv): the callee learns the layout only from what it is handed, so
it read torch's positions on channels-last data (``Image size (96, 3) must be
divisible``; ``reshape (2, 32, 32, 3) into (2, 32, 2, 16, 0, 16)``).
"""

from __future__ import annotations

from . import layout as L


def note_unpacked(rw, vt: L.Tag) -> None:
    """``vt``, the shape of an undecided parameter, is unpacked in ``rw``'s function."""
    if vt.kind == L.SHAPE and vt.param and rw.resolve(L.Tag(L.FREE, param=vt.param)).kind == L.FREE:
        rw.unpacked_free_shapes.add(vt.param)


def note_read(rw, t: L.Tag) -> None:
    """The undecided parameter tagged ``t`` has its shape read, or is handed to a
    callee that takes it undecided, in ``rw``'s function."""
    if t.kind == L.FREE and t.param and rw.resolve(t).kind == L.FREE:
        rw.unpacked_free_shapes.add(t.param)


def ask_decided(rw) -> None:
    """At the end of a round: parameters unpacked while undecided and then taken
    channels-last are taken channels-last from the start next round."""
    for p in sorted(rw.unpacked_free_shapes):
        d = rw.decided.get(p)
        if d is not None and d.kind == L.TENSOR and L.is_image_layout(d):
            rw.f.return_layouts.setdefault(rw.return_key + ("param", p), d.with_(origin=None))
