"""A subclass of a torch layer that keeps the layer's own ``forward``.

``class GroupNorm1(nn.GroupNorm)`` with only an ``__init__`` (timm's
poolformer norms) runs the layer itself when called. Its summary used to be
read off the inherited ``forward`` like any class's: with no caller telling
(or callers handing images and tokens, a MIXED hint) it took nothing and
returned its input's layout (a FREE tag), so callers handed it torch order as
it came, while the NNX layer normalised the last axis, silently reading a
spatial axis as channels (or crashing on a reshape). Now such a class takes
what the row takes: a channel layer whose input rank is decided per call
(``Rule.image_rank``) takes and returns channels-last, at the rank its callers
hand (its image rank when they do not tell or disagree), so callers transpose
a torch-order argument; a call handing another rank than the summary's is the
layer's own call at that rank (``row_at_other_rank``).
"""

from __future__ import annotations

from typing import Optional

from . import layout as L


def takes(row, hint: Optional[L.Tag]) -> L.Tag:
    """What the inherited forward of a subclass of ``row`` (a row with an image
    rank) takes: channels-last at the rank callers hand, else the row's image rank."""
    if hint is not None and hint.kind == L.TENSOR:
        if hint.channels_last and L.is_image_layout(hint):
            return hint
        rank = L.rank_of(hint)
        if rank is not None and rank >= 3:
            return L.channels_last(rank)
    return L.channels_last(row.image_rank)


def row_at_other_rank(summary, t: L.Tag) -> Optional[object]:
    """The row a class's ``__call__`` summary runs as is (its inherited forward),
    when a call hands a tensor of another rank than the summary's: that call is
    the layer's at its own rank (an (N, C, L) batch to a norm its other callers
    hand images)."""
    row = getattr(summary, "row", None)
    if row is None or not row.image_rank or t.kind != L.TENSOR:
        return None
    takes = [v for k, v in summary.takes.items() if k != "self"]
    rank = L.rank_of(t)
    if rank is None or not takes or L.rank_of(takes[0]) in (None, rank):
        return None
    return row
