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
"""

from __future__ import annotations

from . import layout as L


def note_unpacked(rw, vt: L.Tag) -> None:
    """``vt``, the shape of an undecided parameter, is unpacked in ``rw``'s function."""
    if vt.kind == L.SHAPE and vt.param and rw.resolve(L.Tag(L.FREE, param=vt.param)).kind == L.FREE:
        rw.unpacked_free_shapes.add(vt.param)


def ask_decided(rw) -> None:
    """At the end of a round: parameters unpacked while undecided and then taken
    channels-last are taken channels-last from the start next round."""
    for p in sorted(rw.unpacked_free_shapes):
        d = rw.decided.get(p)
        if d is not None and d.kind == L.TENSOR and L.is_image_layout(d):
            rw.f.return_layouts.setdefault(rw.return_key + ("param", p), d.with_(origin=None))
