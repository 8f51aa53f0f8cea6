"""Image batches known by what code does to them.

A tensor handed to a class or function whose callers cannot be seen (a norm
layer built by a factory, a helper of another file) carries no layout of its
own. Under the output contract those callers hand over channels-last maps as
they are, so the callee must take an image batch channels-last, and say so.
``layout.image_batch_by_reduced_dims`` knows one by its reductions over (2, 3);
here are the other idioms that only make sense on an (N, C, *spatial) tensor:

- ``x.permute(0, 2, 3, 1)`` (or ``(0, 2, 3, 4, 1)``): channels moved last, to
  run a norm or a Linear over them (timm's ``LayerNorm2d``): taken channels-last
  the permute moves no data;
- an elementwise op with a per-channel tensor broadcast over torch's spatial
  dims, ``w.reshape(1, -1, 1, 1)`` / ``w.view(1, -1, 1, 1)`` (``rms_norm2d``,
  ``LayerScale2d``): the other operand is a rank-4 tensor whose channels sit on
  axis 1;
- an elementwise op with a ``(C, 1, 1)`` tensor made with literal unit sizes (a
  normalisation mean or std buffer, ``x.mul(self.std).add_(self.mean)`` on the
  input image, a layer scale parameter): the other operand is an image batch of
  rank 4. Deciding it a plain tensor of the operand's rank (what meeting any
  plain tensor does) took the model's input in torch order.
"""

from __future__ import annotations

from typing import Optional

from . import layout as L
from .layout import Tag


def permute_dims(rule, args) -> Optional[tuple[int, ...]]:
    """The literal permutation of a ``permute`` call (not ``transpose``), if any."""
    lay = rule.layout
    if lay.swap:
        return None
    try:
        if len(args.star) == 1:
            vals = args.lit_star(0)
        elif args.star:
            vals = [args.lit_src(s) for s in args.star]
        else:
            vals = [args.lit(n) for n in lay.dims if args.given(n)] if lay.dims else []
            if len(vals) == 1 and isinstance(vals[0], (tuple, list)):
                vals = list(vals[0])
    except Exception:  # noqa: BLE001 - a computed permutation tells nothing
        return None
    if not isinstance(vals, (list, tuple)) or not all(isinstance(v, int) for v in vals):
        return None
    return tuple(v % len(vals) for v in vals) if vals else None


def by_permute(p: Optional[tuple[int, ...]]) -> Optional[Tag]:
    """``x.permute(0, 2, 3, 1)`` on an undecided tensor: an image batch whose
    channels are moved last (rank 4 or 5; a rank-3 ``(0, 2, 1)`` is as often a
    token tensor's transpose and tells nothing)."""
    if p is not None and len(p) >= 4 and p == L.cl_perm(len(p)):
        return L.channels_last(len(p))
    return None


def by_channel_operand(other: Tag) -> Optional[Tag]:
    """The layout to ask of an undecided operand of an elementwise op whose other
    operand is a per-channel tensor broadcast over torch's spatial dims (the view
    rule's ``(1, C, 1, 1)``, tagged channels-last with spatial dims of size 1)."""
    if other.kind == L.TENSOR and other.channels_last and other.one and other.perm is not None \
            and len(other.perm) >= 4 and other.perm == L.cl_perm(len(other.perm)):
        return L.channels_last(len(other.perm))
    return None


def by_per_channel(other: Tag) -> Optional[Tag]:
    """The layout to ask of an undecided operand of an elementwise op whose other
    operand is a plain ``(C, 1, ..., 1)`` tensor (``Tag.per_channel``): an image
    batch one rank higher, channels-last."""
    if other.kind == L.TENSOR and other.per_channel and not other.channels_last and other.rank:
        return L.channels_last(other.rank + 1)
    return None
