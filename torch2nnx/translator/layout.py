"""Layout tags for the channels-last dataflow analysis.

A tensor's tag says how its physical axes relate to the logical (torch) axes:
``perm[i]`` is the logical axis stored at physical axis ``i``. The identity (or
``perm=None`` when the rank is unknown) is a plain tensor; ``(0, 2, 3, 1)`` is
channels-last of a torch NCHW tensor. Keeping a permutation instead of a flag
makes ``permute``/``transpose`` free (only the tag changes) and gives dim
remapping for any op in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

TENSOR, OTHER, FREE, MODULE, SHAPE, UNKNOWN = "tensor", "other", "free", "module", "shape", "unknown"
# what callers of one function hand a parameter when they cannot agree on one
# layout (a token tensor here, an image there): no hint, the parameter stays
# undecided (layout-generic code takes each caller's tensor as it is)
MIXED = "mixed"
# a tuple or list of tensors that share one layout (torch.split, max with dim)
SEQ = "seq"
# a value whose layout a flag chooses, between two ifs on it (flag_splits.py)
SPLIT = "split"


@dataclass(frozen=True)
class Tag:
    kind: str = UNKNOWN
    perm: Optional[tuple[int, ...]] = None
    one: bool = False  # all spatial dims are known to be 1 (after global pooling)
    param: Optional[str] = None  # FREE: the function parameter it comes from
    module: object = None  # MODULE: what the attribute holds (analysis.ModuleRef)
    rank: Optional[int] = None  # known logical rank of a plain tensor
    # per logical axis, what it is in the spatial tensor it derives from: "N",
    # "C", "S0", "S1", ... ("Cx" for pieces of a split channel axis). For sizes
    # (OTHER tags from x.shape / x.size(i)) the one role measured.
    roles: Optional[tuple[str, ...]] = None
    # a plain tensor made from an undecided parameter by an op that could as well
    # have taken it channels-last (F.pad): that parameter's name. A spatial layer
    # reached by it asks for the parameter channels-last next round.
    origin: Optional[str] = None
    # a torch layer's weight read off the NNX layer (kernel_layout.py): the perm is
    # the kernel's order, never a layout to ask of a function's parameter
    weight: bool = False
    # channels-last image batch, or (chosen at run time) torch's flattening of it, of
    # lower rank (a Flatten-or-Identity layer slot, reshape_choice.py): code wanting
    # torch's order transposes it only at its tagged rank (runtime helper torch_order)
    or_flat: bool = False
    # a plain (C, 1, ..., 1) tensor made with literal unit sizes (a normalisation
    # mean or std buffer, a layer scale parameter): broadcast over the channels of
    # an image batch one rank higher (image_batches.by_per_channel)
    per_channel: bool = False
    # a torch data pipeline object kept as torch code (kept_data.py): a
    # DataLoader or Dataset, whose batches are converted where code reads them
    torch_data: bool = False
    # torch order of a value whose rank a flag chose (an image map under one value of
    # the flag, its (B, N, C) tokens under the other, returned: flag_splits.returned):
    # a function handed it takes that parameter in torch order (merge_callers), never
    # channels-last at a rank one side lacks
    ranks_vary: bool = False

    @property
    def is_tensor(self) -> bool:
        return self.kind in (TENSOR, FREE, UNKNOWN)

    @property
    def channels_last(self) -> bool:
        return self.kind in (TENSOR, SEQ) and self.perm is not None and not is_identity(self.perm)

    def with_(self, **kw) -> "Tag":
        return replace(self, **kw)


def element(tag: Tag) -> Tag:
    """The tag of one item of a SEQ."""
    if tag.kind == SEQ and tag.perm is None and tag.param is not None:
        return Tag(FREE, param=tag.param)  # an item of a list of an undecided parameter
    return Tag(TENSOR, perm=tag.perm, one=tag.one, rank=tag.rank, roles=tag.roles, origin=tag.origin) \
        if tag.kind == SEQ else tag


def is_identity(perm) -> bool:
    return perm is None or tuple(perm) == tuple(range(len(perm)))


def cl_perm(rank: int) -> tuple[int, ...]:
    """Channels-last permutation for a logical (N, C, *spatial) tensor."""
    return (0,) + tuple(range(2, rank)) + (1,)


PLAIN_TAG = Tag(TENSOR)
OTHER_TAG = Tag(OTHER)
UNKNOWN_TAG = Tag(UNKNOWN)


def spatial_roles(rank: int) -> tuple[str, ...]:
    return ("N", "C") + tuple(f"S{i}" for i in range(rank - 2))


def channels_last(rank: int, one: bool = False) -> Tag:
    return Tag(TENSOR, perm=cl_perm(rank), one=one, rank=rank, roles=spatial_roles(rank))


def plain(rank: Optional[int] = None) -> Tag:
    return Tag(TENSOR, perm=None, rank=rank)


def physical_axis(perm: tuple[int, ...], logical: int) -> int:
    """Where logical axis ``logical`` (may be negative) lives physically."""
    if logical < 0:
        logical += len(perm)
    return perm.index(logical)


def transpose_axes(src: Optional[tuple[int, ...]], dst: Optional[tuple[int, ...]], rank: int) -> tuple[int, ...]:
    """Axes for ``jnp.transpose`` taking physical layout ``src`` to ``dst``."""
    src = tuple(src) if src is not None else tuple(range(rank))
    dst = tuple(dst) if dst is not None else tuple(range(rank))
    return tuple(src.index(d) for d in dst)


def after_permute(perm: tuple[int, ...], p: tuple[int, ...]) -> tuple[int, ...]:
    """Tag of ``x.permute(*p)`` when the data is left where it is."""
    inv = [0] * len(p)
    for j, a in enumerate(p):
        inv[a] = j
    return tuple(inv[a] for a in perm)


def after_reduce(perm: tuple[int, ...], reduced: set[int]) -> Optional[tuple[int, ...]]:
    """Tag after removing logical axes ``reduced``: remaining axes renumbered."""
    keep = [a for a in perm if a not in reduced]
    order = sorted(keep)
    return tuple(order.index(a) for a in keep)


def join(a: Tag, b: Tag) -> Tag:
    """Merge at a control-flow join."""
    if a == b:
        return a
    if a.kind == b.kind == SEQ:
        from .tuple_layouts import join as join_items

        items = join_items(a, b)  # tuples of differently laid-out items: item by item
        if items is not None:
            return items
    if {a.kind, b.kind} == {TENSOR, SEQ}:
        from .tuple_layouts import tensor_or_items

        one = tensor_or_items(a, b)  # a tensor, or a tuple of tensors so laid out (a flag chooses)
        if one is not None:
            return one
    if a.kind == b.kind and a.kind in (TENSOR, SEQ) and a.perm == b.perm:
        return a.with_(one=a.one and b.one, rank=a.rank if a.rank == b.rank else None,
                       roles=a.roles if a.roles == b.roles else None, origin=a.origin or b.origin,
                       or_flat=a.or_flat or b.or_flat, per_channel=a.per_channel and b.per_channel,
                       ranks_vary=a.ranks_vary or b.ranks_vary)
    if {a.kind, b.kind} == {FREE, SEQ}:
        free, seq = (a, b) if a.kind == FREE else (b, a)
        items = seq.module if isinstance(seq.module, tuple) else ()
        if items and items[0] == free and all(i.kind == FREE for i in items):
            # `return x1, x2` under a flag, else `return x1` (pytorchcv's
            # DualPathSequential): used whole, the first parameter handed back
            return free
        if free.param is not None and (seq.param == free.param or seq == Tag(SEQ)):
            # `if not isinstance(x, list): x = [x]` / `if x is None: x = []`: the
            # parameter, a list of it or an empty list; either way its tensors have
            # the parameter's layout
            return Tag(SEQ, param=free.param)
    if a.kind == b.kind == SEQ and Tag(SEQ) in (a, b) and (a.channels_last or b.channels_last):
        # `spo = []`, then maps appended in a loop that may not run: their layout,
        # if any (an empty list has none to disagree with)
        return a if a.channels_last else b
    if {a.kind, b.kind} == {SEQ, MODULE}:
        seq, mod = (a, b) if a.kind == SEQ else (b, a)
        if seq == Tag(SEQ) and mod.module is not None and getattr(mod.module, "kind", None) == "list":
            # `layers = []`, then layers appended in a loop that may not run: the
            # layers, if any
            return mod
    if a.kind == MODULE and b.kind == MODULE:
        return _join_modules(a, b)
    if a.kind == b.kind == SPLIT:
        from .flag_splits import join_splits

        return join_splits(a, b)
    if a.kind == OTHER and b.kind == OTHER:
        return a
    if {a.kind, b.kind} in ({OTHER, TENSOR}, {OTHER, FREE}):
        # `out = 0`, then `out = conv(x)` on a path that may not run (a branch that
        # may be absent, a loop summing branches): a number broadcasts in any
        # layout, so the value has the tensor's (before: unknown, read as torch
        # order, while the tensor path held channels-last data)
        return a if a.kind != OTHER else b
    if a.kind == UNKNOWN:
        return b
    if b.kind == UNKNOWN:
        return a
    return Tag(UNKNOWN)


def _join_modules(a: Tag, b: Tag) -> Tag:
    """A layer or a translated class on one path, another on the other (a factory's
    ``return MixedConv2d(...)`` / ``return nn.Conv2d(...)``): a union of both, so
    attribute reads see every candidate, not the first."""
    ma, mb = a.module, b.module
    if ma is None or mb is None or ma == mb:
        return a
    if ma.kind == mb.kind == "factory" and ma.rule is None and mb.rule is None and ma.elements and mb.elements \
            and all(e.kind == "class" for e in ma.elements + mb.elements):
        # `A if flag else B`, two translated classes: calling it builds either
        # (flag_classes.py), not the first one
        from .context import ModuleRef

        made = [e for i, e in enumerate(ma.elements + mb.elements) if e not in (ma.elements + mb.elements)[:i]]
        return Tag(MODULE, module=ModuleRef("factory", elements=tuple(made)))
    elems = []
    for m in (ma, mb):
        for e in (m.elements if m.kind == "union" else (m,)):
            if e not in elems:
                elems.append(e)
    if any(e.kind not in ("layer", "class") for e in elems):
        return a
    from .context import ModuleRef

    return Tag(MODULE, module=ModuleRef("union", elements=tuple(elems)))


def image_batch_by_reduced_dims(dims) -> Optional[Tag]:
    """An undecided tensor reduced over exactly its spatial dims, (2, 3) or
    (2, 3, 4), is an image batch (N, C, H, W[, D]): taken channels-last, as a
    caller that cannot see the class hands it (timm's ECA: ``x.mean((2, 3))``)."""
    if isinstance(dims, (tuple, list)) and sorted(dims) in ([2, 3], [2, 3, 4]):
        return channels_last(len(dims) + 2)
    return None


def rank_of(tag: Tag) -> Optional[int]:
    """The logical rank a tensor tag knows, if any."""
    return len(tag.perm) if tag.perm is not None else tag.rank


def merge_callers(old: Optional[Tag], new: Tag, generic: bool = False) -> Tag:
    """What the callers of one function hand one parameter, merged over calls
    (and over the files of a run). Callers that agree in rank but not in layout:
    channels-last wins (a plain caller pays one transpose); a permutation that is
    no channels-last layout (a lazily permuted tensor) never wins: torch order.
    Callers handing tensors of different ranks (tokens (B, N, C) and images
    (N, C, H, W) to a layer both kinds of model share) cannot share one layout:
    MIXED, for good;
    so do callers disagreeing on a ``generic`` parameter (one its function, left
    undecided, takes in any layout: DropPath's, an Mlp's): each caller's tensor
    goes in as it is, no caller pays a transpose (nor gets a token tensor
    transposed as an image). A caller handing a tensor whose rank a flag chose
    (``ranks_vary``) makes it torch order, for good."""
    if old is None:
        return new
    if old.kind == new.kind == MODULE and getattr(old.module, "kind", None) == "factory" \
            and getattr(new.module, "kind", None) == "factory":
        from .factory_args import merged  # layer factories handed to a constructor

        return merged(old, new)
    if old.kind == MIXED or new.kind == MIXED:
        return Tag(MIXED)
    if old.kind == new.kind == MODULE and old != new:
        from .held_layers import merged as merged_held  # layers handed to a constructor

        if (held := merged_held(old, new)) is not None:
            return held
    if old == new:
        return old
    if old.kind == new.kind == SEQ:
        from .tuple_layouts import merge as merge_items

        items = merge_items(old, new, generic)  # tuples of differently laid-out items: item by item
        if items is not None:
            return items
    if OTHER in (old.kind, new.kind) and old.kind != new.kind:
        return Tag(UNKNOWN)  # a number from one caller, a tensor from another: no layout to ask
    if old.kind == new.kind and old.kind in (TENSOR, SEQ):
        ra, rb = rank_of(old), rank_of(new)
        if (ra is not None and rb is not None and ra != rb) or \
                (generic and (old.perm != new.perm or old.channels_last != new.channels_last)):
            return Tag(MIXED)
        if old.ranks_vary or new.ranks_vary:
            # a caller holding a map or its tokens as a flag chose (Tag.ranks_vary) can
            # hand torch order only: no rank to transpose at, nor to agree on
            return plain().with_(ranks_vary=True)
        if old.perm != new.perm and (old.channels_last or new.channels_last):
            images = [t for t in (old, new) if is_image_layout(t)]
            if images:
                return images[0]
            # a permutation no image batch has (attention heads left where they were,
            # `qkv.permute(2, 0, 3, 1, 4).unbind(0)`: (0, 2, 1, 3)) is how one caller
            # holds its tensor, no layout to ask of the others: torch order, the
            # permuted caller pays the transpose
            return old.with_(perm=None, rank=ra if ra == rb else None, roles=None, one=False, origin=None)
    return join(old, new)


def is_image_layout(tag: Tag) -> bool:
    """Channels-last of an image batch ((0, 2, 3, 1) and the like), not any other
    permutation a tensor is held in. At rank 3 the permutation alone does not
    tell: tokens (B, N, C) lazily transposed to torch's (B, C, N)
    (``norm(x).transpose(1, 2)``, MLP-Mixer's token mixing) are held (0, 2, 1)
    like an (N, C, L) batch; only roles from a spatial layer make it one."""
    if not (tag.channels_last and tuple(tag.perm) == cl_perm(len(tag.perm))):
        return False
    return len(tag.perm) >= 4 or tag.roles is not None
