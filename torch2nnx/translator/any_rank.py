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
"""

from __future__ import annotations

from . import layout as L

KEY = "#any_rank"
_MARK = L.Tag(L.MIXED)


def mark(rw, owner, func: str = "__call__") -> None:
    """``owner.func`` (a class's ``__call__``, or a function: owner None) may be
    handed another rank than its summary says."""
    rw.f.record_call(owner, func, KEY, _MARK)


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
