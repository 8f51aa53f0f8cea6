"""Modules whose one translation also runs on tensors of another rank.

A flag that turns a map into tokens (timm's MetaFormer ``use_nchw``, LeViT's
``use_conv``) hands the same classes a channels-last map in one model and
(B, N, C) tokens in another (flag_splits.by_rank). The classes' summaries take
the map; the tokens go in as they are, their channels last too. A class so
reached is marked (a pseudo-parameter of its callers' hints, so the rounds and
their memo see it) and hands the mark on to the classes and functions it
calls: in their code, a move between torch order and channels-last transposes
only a value of the rank it was written for (runtime helpers ``map_order`` /
``torch_order``, static under jit), and the tokens pass as they are.

A function one caller hands a channels-last image batch and another a tensor
whose rank nobody knows (torchvision's MViT: ``_unsqueeze(x, 5, 2)`` on the
video, ``_unsqueeze(x, 4, 1)`` on (B, heads, N, C) or (B, N, C) tokens in
``Pool``) is marked the same way (``joins_unknown_rank``): its summary takes the
image, and the caller of unknown rank moves its value to that layout only at
the image's rank (``guarded``), asking nothing of its own parameter. Callers in
different files of one run are merged the same way (project.py): the mark is a
hint to the callee's file, and its summary (``Summary.any_rank``) tells the
callers in other files.
"""

from __future__ import annotations

from . import layout as L

KEY = "#any_rank"
MARK = L.Tag(L.MIXED)


def mark(rw, owner, func: str = "__call__") -> None:
    """``owner.func`` (a class's ``__call__``, or a function: owner None) may be
    handed another rank than its summary says."""
    rw.f.record_call(owner, func, KEY, MARK)


def mark_refs(rw, refs) -> None:
    """Every translated class among ``refs`` (a Sequential's layers, nested)."""
    for r in refs or ():
        if r is None:
            continue
        if r.kind == "class":
            mark(rw, r.cls)
        elif r.kind in ("sequential", "union", "list"):
            mark_refs(rw, r.elements)


def marked(f, cls, func_name: str) -> bool:
    owner = cls.name if cls is not None else None
    name = "__call__" if cls is not None and func_name == "forward" else func_name
    return (owner, name, KEY) in f.hints


def joins_unknown_rank(old, new, merged) -> bool:
    """Callers' tags ``old`` and ``new`` merged into an image batch's layout where
    one of them is a plain tensor of unknown rank (maybe not an image at all)."""
    if old is None or merged.kind != L.TENSOR or not L.is_image_layout(merged):
        return False
    return any(t.kind == L.TENSOR and t.perm is None and t.rank is None for t in (old, new))


def guarded(rw, owner, fname, t, want, summary=None) -> bool:
    """A call handing ``t`` (torch order, rank unknown) to a parameter of a
    marked callee (in this file, or one of another file whose ``summary`` says
    so) that takes an image batch: moved only at the image's rank."""
    if fname is None or want is None or not L.is_image_layout(want):
        return False
    if not (t.kind == L.TENSOR and t.perm is None and t.rank is None):
        return False
    name = "__call__" if owner is not None and fname == "forward" else fname
    return (owner, name, KEY) in rw.f.hints or getattr(summary, "any_rank", False)
