"""A translated class returning torch order where the next layer of a Sequential
takes channels-last.

timm's TResNet::

    self.body = nn.Sequential(OrderedDict([('s2d', SpaceToDepth()), ('conv1', conv1), ...]))

``SpaceToDepth`` ends in ``x.view(N, C * bs * bs, H // bs, W // bs)``: a reshape,
torch's order, returned as it is. The Sequential runs its layers back to back,
so no transpose fits between them: the conv was handed a map in torch order
(``8 // 1 != 48``), a TODO said so. Now the fold asks the class, like a
parameter hint (``(class, "__call__", KEY)``, across the files of a run too), to
return channels-last: its ``forward`` transposes a plain result of that rank
before returning it, as the contract has a class return a spatial map, and the
fold then finds no layout change to make.
"""

from __future__ import annotations

from . import layout as L

KEY = "#returns"


def key(item: int | None = None) -> str:
    """The hint's key: the whole result, or item ``item`` of a returned tuple (a
    block called in a loop, ``x, y = blk(x, y)``: each item comes back to the
    parameter at its place)."""
    return KEY if item is None else f"{KEY}[{item}]"


def ask(rw, cls: str, want: L.Tag, item: int | None = None) -> None:
    """The Sequential being folded (or the loop) takes ``cls``'s result in ``want`` (channels-last)."""
    rw.f.record_call(cls, "__call__", key(item), want)


def asked(rw, t: L.Tag, item: int | None = None):
    """The layout a class's ``forward`` is asked to return a value tagged ``t`` in,
    or None: only a plain tensor of the asked rank is moved."""
    if rw.cls is None or rw.func_name != "forward":
        return None
    want = rw.f.hints.get((rw.cls.name, "__call__", key(item)))
    if want is None or want.kind != L.TENSOR or not want.channels_last:
        return None
    if t.kind != L.TENSOR or not L.is_identity(t.perm) or L.rank_of(t) != L.rank_of(want):
        return None
    return want


def already(summary, tag) -> bool:
    """The class's translation already returns what the Sequential asks."""
    return summary is not None and summary.returns is not None and summary.returns.perm == tag.perm
