"""``a + b`` of two lists of tensors: one list, in one layout.

``[a, b] + children`` (DLA's roots) keeps each item's own layout, so a callee
taking the list learns them. Otherwise the items of both lists must share one
layout before anything concatenates them: ``[x] + [pool(x) for pool in
self.poolings]`` with ``x`` an undecided parameter takes ``x`` in the
layout of the pooled maps (channels-last); lists in two known, different
layouts are both brought to torch order, never joined as they are (a
concatenation over the channel axis of one would read another axis of the
other, silently wrong whenever the shapes line up).
"""

from __future__ import annotations

from . import layout as L
from .layout import Tag


def _empty(t: Tag) -> bool:
    return t.perm is None and t.module is None and t.param is None


def joined_lists(rw, updated, lt: Tag, rt: Tag):
    lt, rt = rw.resolve(lt), rw.resolve(rt)
    empty = [t for t in (lt, rt) if _empty(t)]
    if len(empty) == 1:  # an empty list (`children = []`) adds nothing
        return rw.set(updated, (rt if empty[0] is lt else lt).with_(module=None))
    # a list of an undecided parameter joined with one of known layout: that layout
    for a, b in ((lt, rt), (rt, lt)):
        if a.param is not None and a.perm is None and b.param is None and b.channels_last:
            rw.decide(Tag(L.FREE, param=a.param), L.element(b))
    lt, rt = rw.resolve(lt), rw.resolve(rt)
    items = lt.module + rt.module if isinstance(lt.module, tuple) and isinstance(rt.module, tuple) else None
    if lt.perm == rt.perm and lt.param == rt.param:
        return rw.set(updated, lt.with_(module=items, one=lt.one and rt.one))
    if items is not None:
        return rw.set(updated, Tag(L.SEQ, module=items))  # items keep their own layouts
    if lt.channels_last or rt.channels_last:
        # two layouts: both in torch order
        why = "lists of different layouts joined"
        left, right = rw.canonical(updated.left, why), rw.canonical(updated.right, why)
        return rw.set(updated.with_changes(left=left, right=right), L.plain().with_(kind=L.SEQ))
    return rw.set(updated, L.UNKNOWN_TAG)
