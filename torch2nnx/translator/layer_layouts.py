"""Layouts through layers: a value handed to a layer, a translated class, a
Sequential or a layer chosen at run time takes the layout its callee takes,
and leaves with the one it returns.
"""

from __future__ import annotations

from typing import Optional

from . import layout as L
from . import held_permutations, reshape_choice, torch_order_layers, union_dispatch
from .call_args import later_args
from . import row_forward
from .context import UNKNOWN_MODULE, ModuleRef
from .layer_choice import either_layout, spatial_union, stance
from .layout import Tag
from . import any_rank, flag_classes, flag_splits, sequential_returns, tuple_layouts
from .body_support import code, expr, _mixed_ranks


class LayerLayoutsMixin:
    """The layer layouts room of FunctionRewriter (function_rewriter.py)."""

    def call_module(self, original, updated, m: Optional[ModuleRef]):
        """``self.layer(x)``: the layer's layout behaviour applies to ``x``."""
        m = flag_classes.narrow(self, updated.func, m) or UNKNOWN_MODULE
        if not updated.args:
            return self.set(updated, L.UNKNOWN_TAG)
        if m.kind == "unknown":
            updated = updated.with_changes(args=held_permutations.in_torch_order(self, updated.args))
        first = updated.args[0]
        t = self.tag(first.value)
        if m.kind == "unknown" and t.kind == L.MODULE and len(updated.args) > 1:
            # a callable handed a layer and values (a scheme running the layer on
            # them): its result is theirs, not the layer (tuple_layouts.note_handed)
            result = self.set(updated, L.UNKNOWN_TAG)
            tuple_layouts.note_handed(self, result)
            return result
        if flag_splits.is_split(t) and not first.keyword and not first.star:
            if m.kind == "union":
                dispatched = flag_splits.through_union(self, updated, t, m)
                if dispatched is not None:
                    return dispatched
            new_first, t, as_is = flag_splits.through(self, first.value, t, m)
            first = first.with_changes(value=new_first)
            updated = updated.with_changes(args=[first] + list(updated.args[1:]))
            if as_is:
                return self.set(later_args(self, updated, m), t)
        if _mixed_ranks(m) and t.kind == L.FREE and t.param and not first.keyword and not first.star:
            # an undecided parameter handed to a conv whose rank is chosen at run time (timm's
            # Hiera: conv_nd(len(kernel))): under the contract an image batch, taken channels-last,
            # of an image's rank (as an Upsample takes one), not torch's order
            t = self.decide(t, L.channels_last(4))
        elif _mixed_ranks(m) and t.kind == L.TENSOR and t.perm is None:
            self.ask_image(t, L.channels_last(4))  # read in torch order only while undecided (x.shape[2:])
        if _mixed_ranks(m) and not (t.kind == L.TENSOR and t.perm is not None) and not first.keyword \
                and not first.star:
            # one of conv1d/2d/3d chosen at run time (conv_nd(n)), the input's rank unknown: every
            # one takes channels last, whatever the rank; torch's order around it
            x = code(self.canonical(first.value))
            self.transposes += 2
            inner = updated.with_changes(args=[first.with_changes(value=expr(f"jnp.moveaxis({x}, 1, -1)"))]
                                         + list(updated.args[1:]))
            return self.set(expr(f"jnp.moveaxis({code(inner)}, -1, 1)"), L.plain())  # torch's order
        if reshape_choice.applies(m, t, updated):
            return reshape_choice.call(self, updated, t)
        if m.kind == "union" and t.kind == L.FREE:
            t = union_dispatch.undecided_input(self, m, t)
        if union_dispatch.applies(self, m, t, updated):
            return union_dispatch.call(self, updated, t, m)
        if torch_order_layers.applies(m, t, updated):
            return torch_order_layers.call(self, updated, t)
        new_first, out = self.through_module(first.value, t, m)
        args = [first.with_changes(value=new_first)] + list(updated.args[1:])
        result = self.set(later_args(self, updated.with_changes(args=args), m), out)
        if m.kind == "unknown":
            tuple_layouts.note_handed(self, result)  # its results unpacked: each argument's layout
        return result

    def through_module(self, node, t: Tag, m: ModuleRef):
        """Layout effect of applying module ``m`` to a value tagged ``t``."""
        if m.kind == "layer" and m.rule is not None:
            if m.rule.image_rank and t.kind == L.TENSOR and not t.channels_last:
                return self._channel_layer_in_torch_order(node, t, m.rule.image_rank)
            return self.apply_layout_unary(node, t, m.layout or m.rule.layout)
        if m.kind == "class":
            info = self.f.classes.get(m.cls)
            # a class of another file of the run: the layouts it was translated with
            s = info.methods.get("__call__") if info else self.f.external_summaries.get(m.cls)
            if s is None and info is not None and info.elements:
                # a Sequential subclass: its layers in order
                takes, returns = self._fold_refs(list(info.elements))
                return self.through_module(node, t, ModuleRef("sequential", elements=info.elements,
                                                              takes=takes, returns=returns))
            if s is None:
                return node, t
            if (row := row_forward.row_at_other_rank(s, t)) is not None:
                # a subclass running the layer's own forward, at another rank: the layer's call
                return self.through_module(node, t, ModuleRef("layer", rule=row))
            params = [p for p in s.params if p != "self"]
            want = s.takes.get(params[0]) if params else None
            if self.any_rank:
                any_rank.mark(self, m.cls)  # handed on: it may see the other rank too
            if params:
                node, t = held_permutations.to_undecided(self, node, t, want)
            if params and t.kind in (L.TENSOR, L.SEQ):
                self.f.record_call(m.cls, "__call__", params[0], t)
            if params and info is None and any_rank.guarded(self, m.cls, "__call__", t, want, s):
                # another file's class that also runs on other ranks, handed a tensor of
                # unknown rank: moved only at the image's rank; what it returns is that
                # image, or at another rank the tensor as torch holds it (or_flat)
                node, t = self.to_layout(node, t, want, guarded=True), want.with_(or_flat=True)
                ret = s.returns or L.UNKNOWN_TAG
                ret = t if ret.kind == L.FREE and ret.param == params[0] else ret
                return node, (ret.with_(or_flat=True) if ret.kind == L.TENSOR and ret.channels_last else ret)
            if params and self.in_loop():
                self.ask_repeated_return(m.cls)  # called in a loop: its result may come back to it
            node, t = self.to_taken(node, t, want)
            ret = s.returns or L.UNKNOWN_TAG
            if ret.kind == L.FREE:
                ret = t if params and ret.param == params[0] else L.UNKNOWN_TAG
            return node, ret
        if m.kind == "sequential":
            want, ret = m.takes, m.returns
            if want is None and ret is None and m.elements:
                # filled after it was made (stem.add_module("conv", ...)): its layers tell
                want, ret = self._fold_refs(list(m.elements))
            if t.kind == L.FREE and want is not None and want.channels_last:
                t = self.decide(t, want)
            self._record_through(t, m.elements)
            if self.any_rank:
                any_rank.mark_refs(self, m.elements)
            if want is not None and t.is_tensor:
                if want.channels_last:
                    if t.kind == L.FREE:
                        t = self.decide(t, want)
                    elif not (t.channels_last and t.perm == want.perm):
                        if not t.channels_last:
                            self.ask_image(t, want)  # in torch order only as undecided when met
                        node = self.to_layout(node, t if t.kind == L.TENSOR else L.plain(len(want.perm)), want)
                        t = want
                else:
                    node = self.canonical(node)
                    t = L.plain()
            return node, (ret if ret is not None else t)
        if m.kind == "union" and either_layout(m):
            return self._through_either(node, t, m)
        if m.kind == "union" and spatial_union(m) is not None:
            return self._through_spatial_union(node, t, m, spatial_union(m))
        if m.kind in ("union", "list") and m.elements:
            elements = m.elements
            rank = len(t.perm) if t.kind in (L.TENSOR, L.FREE) and t.perm is not None else None
            if m.kind == "union" and rank is not None:
                # one of several layer classes (`conv_nd(n)(...)`): those taking a tensor of this rank
                fit = tuple(e for e in elements if not (e.kind == "layer" and e.rule is not None
                                                        and (e.layout or e.rule.layout).rank not in (None, rank)))
                elements = fit or elements
            if m.kind == "union" and len({(e.layout or e.rule.layout).rank for e in elements
                                          if e.kind == "layer" and e.rule is not None} - {None}) > 1:
                return node, t  # layers of different ranks, the input's unknown: as an unknown module
            # a loop over a ModuleList: fold twice to let the layout settle
            outs = []
            t0, node0 = t, node
            for e in elements:
                n2, o = self.through_module(node, t, e)
                node = n2
                outs.append(o)
                if o.kind == L.TENSOR:
                    t = o  # what the next element is handed: one transpose, not one per element
                    if m.kind == "union":
                        # ... but a union's layers each take the input, not the one before's
                        # output: a global pool's size-1 dims are not the Identity's beside it
                        t = o.with_(one=o.one and t0.one)
            if m.kind == "union" and node is not node0 and self.tag(node).kind == L.TENSOR:
                # a later layer took the input in another layout (`nn.Identity() if fuse else
                # nn.Conv2d(...)` handed a reshaped map): whichever is built gets the converted
                # value, so the layers before it pass that layout on, not the one they met
                outs = [self.through_module(node, self.tag(node), e)[1] for e in elements]
            res = outs[0]
            for o in outs[1:]:
                res = L.join(res, o)
            return node, res
        # unknown module: under the contract every translated module takes and
        # returns channels-last where torch uses channels-first, so pass through
        return node, t

    def _channel_layer_in_torch_order(self, node, t: Tag, image_rank: int):
        """A channel layer NNX normalises over the last axis (GroupNorm) handed a
        tensor in torch's order: one of rank 3 or more has its channels on axis 1,
        so it goes in channels-last (before, it went in as it was and the layer
        read its last spatial axis as channels). Of unknown rank (a Linear's output
        may be (N, C)) it goes in as it is; a parameter in torch order only because
        some caller handed it so is then an image batch, taken channels-last from
        the next round on (``ask_image``)."""
        rank = L.rank_of(t)
        if rank is None:
            self.ask_image(t, L.channels_last(image_rank))
            return node, t
        if rank < 3:
            return node, t
        want = L.channels_last(rank)
        self.ask_image(t, want)
        return self.to_layout(node, t, want), want

    def _through_spatial_union(self, node, t: Tag, m: ModuleRef, lay):
        """A conv layer or one of several translated conv classes (layer_choice.spatial_union):
        the input goes in channels-last, as the layer takes it; each class is told
        its callers hand it channels-last (a hint: translated to take that)."""
        node, out = self.apply_layout_unary(node, t, lay)
        want = L.channels_last(lay.rank)
        for e in m.elements:
            if e.kind != "class":
                continue
            info = self.f.classes.get(e.cls)
            s = info.methods.get("__call__") if info else self.f.external_summaries.get(e.cls)
            params = [p for p in (s.params if s is not None else []) if p != "self"]
            if params:
                self.f.record_call(e.cls, "__call__", params[0], want)
        return node, out

    def _through_either(self, node, t: Tag, m: ModuleRef):
        """A layer chosen at run time between a channels-last one and a plain one
        (``partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear``): each
        caller hands the tensor the chosen layer takes (an image to the conv, a
        token tensor to the Linear), so the value passes as it is; an undecided
        parameter stays undecided (the function returns what it was handed)."""
        if t.kind == L.FREE:
            return node, t
        spatial = next(e for e in m.elements if stance(e) == "spatial")
        if t.channels_last:
            return self.through_module(node, t, spatial)
        return node, L.plain(t.rank if t.kind == L.TENSOR else None)

    def apply_layout_unary(self, node, t: Tag, lay):
        kind = lay.kind
        if kind == "elementwise":
            return node, t
        if kind == "spatial":
            want = L.channels_last(lay.rank)
            out = spatial_out(lay, want)
            if t.kind == L.FREE:
                self.decide(t, want)
                return node, out
            if t.channels_last and len(t.perm) == lay.rank and t.perm == want.perm:
                return node, out
            if t.kind in (L.TENSOR, L.UNKNOWN):
                if t.origin is not None and self.func_name != "__init__":
                    # padded (or the like) in torch order only because undecided when
                    # met: the parameter is taken channels-last from the next round on
                    # (kept with the return layouts: decided once, used by later rounds)
                    self.f.return_layouts.setdefault(self.return_key + ("param", t.origin), want)
                node = self.to_layout(node, t if t.kind == L.TENSOR else L.plain(lay.rank), want)
            return node, out
        if kind == "spatial_any":
            # rank-generic spatial ops (Upsample): channels-last of any rank; an
            # undecided input is taken as an image batch (N, C, H, W)
            if t.channels_last:
                return node, t.with_(one=False)
            if t.kind == L.FREE:
                return node, self.decide(t, L.channels_last(4))
            rank = t.rank or 4
            if t.kind in (L.TENSOR, L.UNKNOWN) and t.origin is not None and self.func_name != "__init__":
                # as for "spatial": in torch order only because undecided when met
                self.f.return_layouts.setdefault(self.return_key + ("param", t.origin), L.channels_last(rank))
            node = self.to_layout(node, L.plain(rank), L.channels_last(rank))
            return node, L.channels_last(rank)
        if kind == "channel":
            if t.kind == L.FREE:
                return node, t
            return node, t
        if kind in ("plain", "reshape"):
            if kind == "reshape" and t.channels_last and t.one:
                return node, L.plain()
            if kind == "plain" and t.or_flat and t.perm is not None:
                # a Linear on a map maybe flattened already (reshape_choice): its result
                # is too, in torch's order
                return self.canonical(node), L.plain(len(t.perm)).with_(or_flat=True)
            if lay.out_cl:
                return self.canonical(node), L.channels_last(lay.out_cl)
            # a layer keeping its input's rank (LayerNorm, Linear) keeps it known
            return self.canonical(node), L.plain(L.rank_of(t) if lay.keeps_rank and t.kind == L.TENSOR else None)
        if kind == "permute" and lay.dims:
            # a permuting layer (torchvision's Permute) moves data: torch order in, torch order out
            return self.canonical(node), L.plain(len(lay.dims))
        return node, L.UNKNOWN_TAG

    # --------------------------------------------------------- rule application

    def _record_through(self, t: Tag, refs) -> None:
        """Layouts reaching translated classes inside a container: call sites too."""
        if t.kind != L.TENSOR:
            return
        for r in refs:
            if r is None or t.kind != L.TENSOR:
                return
            if r.kind == "class":
                s = self._class_summary(r)
                params = [p for p in s.params if p != "self"] if s else []
                if params:
                    self.f.record_call(r.cls, "__call__", params[0], t)
                ret = self._class_returns(r)
                t = ret if ret is not None else t
            elif r.kind == "layer" and r.rule is not None:
                lay = r.layout or r.rule.layout
                if lay.kind == "spatial":
                    t = spatial_out(lay, L.channels_last(lay.rank))
                elif lay.out_cl:
                    t = L.channels_last(lay.out_cl)
                elif lay.kind in ("plain", "reshape"):
                    t = L.plain()
            elif r.kind == "sequential":
                self._record_through(t, r.elements)
                t = r.returns if r.returns is not None else t
            else:
                return

    def _fold_refs(self, refs, original=None, moves=None):
        """What a chain of layers takes and returns (no rewriting). A layout
        change between two of them goes into ``moves`` ({index: axes}, the
        container's run-time transposes) or, without it, is marked on ``original``."""
        t = Tag(L.FREE, param="<sequential>")
        takes = None
        prev = None  # the class whose result `t` is
        for i, r in enumerate(refs):
            lay = (r.layout or r.rule.layout) if r is not None and r.kind == "layer" and r.rule is not None else None
            want = None
            if lay is not None and lay.kind == "spatial":
                want = L.channels_last(lay.rank)
            elif lay is not None and lay.kind in ("plain", "reshape") and not (lay.kind == "reshape" and t.one):
                want = L.plain()
            elif r is not None and r.kind == "sequential":
                want = r.takes
            elif r is not None and r.kind == "class":
                want = self._class_takes(r)
            if want is not None:
                if prev is not None and original is not None and want.kind == L.TENSOR and want.channels_last \
                        and t.kind == L.TENSOR and L.rank_of(t) == L.rank_of(want):
                    # a class's result the next layer takes channels-last (timm's SpaceToDepth
                    # before TResNet's first conv): asked to return it so, as the contract has
                    # it; asked every round, also once it does (sequential_returns.py)
                    sequential_returns.ask(self, prev, want)
                if t.kind == L.FREE and takes is None:
                    takes = want
                elif original is not None and t.kind == L.TENSOR and want.kind == L.TENSOR \
                        and t.channels_last != want.channels_last and not (t.one and lay is not None
                                                                          and lay.kind == "reshape"):
                    axes = layout_move(t, want)
                    if moves is not None and axes is not None:
                        moves[i] = axes
                    else:
                        self.todo(original, "T2N004", "layers collected at run time need a layout change "
                                                      "between two of them; build the Sequential from separate parts")
                t = spatial_out(lay, want) if lay is not None and lay.kind == "spatial" else \
                    L.channels_last(lay.out_cl) if lay is not None and lay.out_cl else want
            prev = None
            if r is not None and r.kind == "sequential" and r.returns is not None:
                t = r.returns
            elif r is not None and r.kind == "class" and self._class_returns(r) is not None:
                t, prev = self._class_returns(r), r.cls
        return takes, (None if t.kind == L.FREE else t)

    def ask_repeated_return(self, cls: str) -> None:
        """A class whose result may be handed to itself again (called in a loop over a
        ModuleList, or repeated in a Sequential built from a list): when it takes a
        map channels-last and returns a plain one of that rank, it is asked to
        return it channels-last too, as the contract has it (sequential_returns.py),
        so the next layer of the chain is handed what it takes."""
        s = self._class_summary(ModuleRef("class", cls=cls))
        params = [p for p in s.params if p != "self"] if s is not None else []
        ret = s.returns if s is not None else None
        if not params or ret is None:
            return
        # one tuple taken and returned (`x = stage(x)`, x a map and tokens): item by item
        pairs = tuple_layouts.repeated_pairs(s, params, ret)
        if pairs is None and ret.kind == L.SEQ and isinstance(ret.module, tuple):
            # a tuple returned (`x, y = blk(x, y)` in a loop): each item goes back to the
            # parameter at its place
            pairs = [(i, s.takes.get(params[i]), r) for i, r in enumerate(ret.module[:len(params)])]
        elif pairs is None:
            pairs = [(None, s.takes.get(params[0]), ret)]
        for item, want, r in pairs:
            if want is None or want.kind != L.TENSOR or not want.channels_last or not isinstance(r, Tag):
                continue
            if r.kind == L.TENSOR and not r.channels_last and L.rank_of(r) == L.rank_of(want):
                sequential_returns.ask(self, cls, want, item)
            elif (self.f.hints.get((cls, "__call__", sequential_returns.key(item))) is not None
                  and r.kind == L.TENSOR and r.perm == want.perm):
                sequential_returns.ask(self, cls, want, item)  # asked every round, also once it does

    def _class_summary(self, r: ModuleRef):
        """The ``__call__`` summary of a class of this file or, as its file exported
        it, of another file of the run (a Sequential folding both kinds of layers)."""
        info = self.f.classes.get(r.cls)
        return info.methods.get("__call__") if info else self.f.external_summaries.get(r.cls)

    def _class_takes(self, r: ModuleRef):
        s = self._class_summary(r)
        if s is None:
            return None
        params = [p for p in s.params if p != "self"]
        return s.takes.get(params[0]) if params else None

    def _class_returns(self, r: ModuleRef):
        s = self._class_summary(r)
        if s is None or s.returns is None or s.returns.kind == L.FREE:
            return None
        return s.returns


def spatial_out(lay, want: Tag) -> Tag:
    """What a spatial layer taking ``want`` returns: channels-last, or a plain
    tensor (``out_plain``: a patchifying Rearrange returns tokens)."""
    return L.plain() if lay.out_plain else want.with_(one=lay.out_one)


def layout_move(t: Tag, want: Tag):
    """The axes of the transpose taking a tensor tagged ``t`` to ``want`` (a
    container's move between two layers), or None where a rank is unknown."""
    rank = len(want.perm) if want.perm is not None else (len(t.perm) if t.perm is not None else None)
    if rank is None or (t.perm is not None and len(t.perm) != rank):
        return None
    return L.transpose_axes(t.perm if t.channels_last else None, want.perm if want.channels_last else None, rank)
