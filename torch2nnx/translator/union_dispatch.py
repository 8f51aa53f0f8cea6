"""A module slot holding one of several translated classes (or a class and
layers), chosen at build time, whose layouts disagree.

timm's ResNeSt: ``self.conv2 = SplitAttn(...) if radix >= 1 else nn.Conv2d(...)``,
where ``SplitAttn`` returns torch's order and the conv channels-last; timm's
MaxxViT ``ConvNeXtBlock``: ``self.ls = LayerScale2d(...)`` (an image batch,
channels-last) or ``LayerScale(...)`` (channels in torch's last dim), called as
``self.ls(x)`` on a channels-last map in one branch of ``forward`` and on a
permuted (N, H, W, C) in torch order in the other. Handing every candidate one
layout (what folding the union did) gave one of them the wrong axes.

The call becomes a choice on the slot's class, made when the model is traced
(static under ``nnx.jit``)::

    self.conv2(out) if not isinstance(self.conv2, SplitAttn) else jnp.transpose(self.conv2(out), ...)

Each translated class is handed the input in the layout it takes (its callers
agree with it, none is told a layout only another class takes) and its result
is brought to one layout: channels-last where one candidate returns it (the
contract's layout inside a model), torch order otherwise. A candidate returning
torch's order at a rank its arguments choose (timm's FastAdaptiveAvgPool:
``x.mean(self.dim, keepdim=not self.flatten)``, (N, C, 1, 1) or (N, C)) is
brought to channels-last only at the map's rank (``map_order``), and the slot's
result is channels-last ``or_flat``: GhostNet hands it straight on to a 1x1
conv. The layers of the union share the last branch (handled as before, as a
union of layers).
"""

from __future__ import annotations

import libcst as cst

from . import layout as L
from .context import ModuleRef
from .layout import Tag


def _summary(rw, cls: str):
    info = rw.f.classes.get(cls)
    return info.methods.get("__call__") if info is not None else rw.f.external_summaries.get(cls)


def _nameable(rw, cls: str) -> bool:
    return cls.isidentifier() and (cls in rw.f.classes or cls in rw.f.external_summaries)


def _takes(s):
    params = [p for p in s.params if p != "self"]
    return s.takes.get(params[0]) if params else None


def _disagree(rw, m: ModuleRef, t: Tag) -> bool:
    """Whether the union's candidates want or return different layouts for ``t``."""
    takes, rets = set(), set()
    generic = False  # a layer returning what it is handed (Identity, Dropout)
    for e in m.elements:
        if e.kind == "class":
            s = _summary(rw, e.cls)
            if s is None:
                return False
            want = _takes(s)
            if want is not None and want.kind == L.TENSOR:
                takes.add(bool(want.channels_last))
            r = s.returns
            if r is not None and r.kind == L.TENSOR:
                rets.add(bool(r.channels_last))
            elif r is not None and r.kind == L.FREE:
                rets.add(bool(t.channels_last))
        elif e.kind == "layer" and e.rule is not None:
            kind = getattr(e.layout or e.rule.layout, "kind", None)
            if kind == "spatial":
                takes.add(True)
                rets.add(True)
            elif kind in ("plain", "reshape"):
                takes.add(False)
                rets.add(False)
            elif kind == "elementwise":
                generic = True
        else:
            return False
    if generic:
        # folded, the layer is handed what the class takes and returns it as it is:
        # wrong where the class returns another layout (torchvision MaxViT's
        # ``SwapAxes(-2, -3) if grid else nn.Identity()`` on window tokens)
        rets |= takes or {bool(t.channels_last)}
    return len(takes) > 1 or len(rets) > 1


def undecided_input(rw, m: ModuleRef, t: Tag) -> Tag:
    """An undecided parameter handed to a slot holding one of several translated
    classes: an image batch when one candidate takes it channels-last.

    timm's ConViT: ``self.patch_embed = HybridEmbed(backbone) if backbone else
    PatchEmbed(...)``, ``HybridEmbed`` handing its input on to a backbone it cannot
    see (torch order). Folded, the first candidate decided the parameter (torch
    order) and the next was handed the first one's output: the model took its
    image in torch order, and ``PatchEmbed`` learnt its callers hand it tokens.
    Now the parameter is channels-last when some candidate takes it so, and
    ``call`` hands each candidate the layout it takes (the one taking torch order
    transposes at its call, only when it is the one built)."""
    if m.kind != "union" or t.kind != L.FREE or not t.param:
        return t
    for e in m.elements:
        if e.kind != "class":
            continue
        s = _summary(rw, e.cls)
        want = _takes(s) if s is not None else None
        if want is not None and want.kind == L.TENSOR and want.channels_last and L.is_image_layout(want):
            return rw.decide(t, want)
    return t


def _pools(m: ModuleRef) -> bool:
    """The union holds a torch layer computing a map of its own (an adaptive pool),
    not only layers handing back what they are given (Identity)."""
    for e in m.elements:
        if e.kind == "layer" and e.rule is not None:
            kind = getattr(e.layout or e.rule.layout, "kind", None)
            if kind in ("spatial", "spatial_any"):
                return True
    return False


def _takes_map(rw, cls, rank) -> bool:
    """The class ``cls`` takes a channels-last map of ``rank`` (None: the union's layers)."""
    s = _summary(rw, cls) if cls is not None else None
    want = _takes(s) if s is not None else None
    return want is not None and want.kind == L.TENSOR and bool(want.channels_last) \
        and L.is_image_layout(want) and L.rank_of(want) == rank


def applies(rw, m: ModuleRef, t: Tag, updated: cst.Call) -> bool:
    if m.kind != "union" or t.kind != L.TENSOR or t.perm is None and t.rank is None:
        return False
    classes = [e for e in m.elements if e.kind == "class"]
    if not classes or not all(_nameable(rw, e.cls) for e in classes):
        return False
    if not isinstance(updated.func, (cst.Name, cst.Attribute)) or not updated.args:
        return False
    a = updated.args[0]
    if a.keyword is not None or a.star:
        return False
    return len(classes) > 1 or _disagree(rw, m, t)


def call(rw, updated: cst.Call, t: Tag, m: ModuleRef):
    """The rewritten call and its tag (``rw``: the FunctionRewriter)."""
    from .body_support import code, expr

    first = updated.args[0]
    branches = []  # (class name or None, call node, its tag)
    for e in m.elements:
        if e.kind != "class":
            continue
        node, out = rw.through_module(first.value, t, e)  # told, and handed, what it takes
        branches.append((e.cls, updated.with_changes(args=[first.with_changes(value=node)] + list(updated.args[1:])),
                         out))
    layers = tuple(e for e in m.elements if e.kind != "class")
    if layers:
        ref = layers[0] if len(layers) == 1 else ModuleRef("union", elements=layers)
        node, out = rw.through_module(first.value, t, ref)
        branches.append((None, updated.with_changes(args=[first.with_changes(value=node)] + list(updated.args[1:])),
                         out))
    outs = [o for _, _, o in branches]
    cl = [o for o in outs if o.kind == L.TENSOR and o.channels_last and L.is_image_layout(o)]
    ranks = {L.rank_of(o) for o in outs if o.kind == L.TENSOR}
    guarded = False
    if cl and ranks == {L.rank_of(cl[0])}:
        target = cl[0].with_(one=False, origin=None)
    elif cl and ranks == {L.rank_of(cl[0]), None} and _pools(m) and any(
            cls is None and o.kind == L.TENSOR and o.channels_last for cls, _, o in branches) and all(
            _takes_map(rw, cls, L.rank_of(cl[0])) for cls, _, o in branches
            if o.kind == L.TENSOR and L.rank_of(o) is None):
        # the others return torch's order at a rank their arguments choose (timm's
        # SelectAdaptivePool2d: FastAdaptiveAvgPool's ``x.mean(self.dim, keepdim=not
        # self.flatten)``, (N, C, 1, 1) or (N, C), beside adaptive pools returning the
        # channels-last map): channels-last too, the map transposed only at its rank, the
        # result maybe flat (``or_flat``, a flattened (N, C) has its channels last as well).
        # Torch's order here read the adaptive pools' maps back into it, and a caller told
        # the slot returns torch's order of unknown rank handed it to a 1x1 conv as it was.
        # Only where the slot's torch layers include a pooling layer making the map and the
        # classes take the map (they reduce it too): timm's LeViT's downsample slot (its own
        # class returning a map or tokens as a flag chose, or an Identity) is no such slot
        target = cl[0].with_(one=False, origin=None, or_flat=True)
        guarded = True
    elif not ranks and all(o == outs[0] for o in outs):
        # every candidate returns the same non-tensor (a tuple whose items keep their own
        # layouts: timm EfficientViM's stages ``x_out, x, h``, one class listed per stage):
        # that, not a plain tensor (which read the channels-last items in torch order)
        target = outs[0]
    else:
        target = L.plain(ranks.pop() if len(ranks) == 1 else None)
    parts = []
    for cls, node, out in branches:
        if out.kind == L.TENSOR:
            rw.set(node, out)
            if out.perm != target.perm and not (L.is_identity(out.perm) and L.is_identity(target.perm)):
                node = rw.to_layout(node, out, target, "the slot's candidates return one layout",
                                    guarded=guarded and L.rank_of(out) is None) \
                    if target.channels_last else rw.canonical(node, "the slot's candidates return one layout")
        parts.append((cls, node))
    if len({code(node) for _, node in parts}) == 1:
        return rw.set(parts[0][1], target)  # every candidate takes and returns the same
    slot = code(updated.func)
    # the layers (or the last class) are the fallback; each other class is checked
    cls, result = parts[-1]
    for cls, node in reversed(parts[:-1]):
        result = expr(f"({code(node)}) if isinstance({slot}, {cls}) else ({code(result)})")
    return rw.set(result, target)
