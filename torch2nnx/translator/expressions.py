"""Expressions of a rewritten function and the transposes between layouts:
literals, sequences, arithmetic and comparisons (elementwise broadcasting
between layouts), conditional expressions; a value taken to another layout
(to_layout) or to torch's order (canonical).
"""

from __future__ import annotations

import libcst as cst

from . import layout as L
from . import image_batches, shape_reads, shape_values, tuple_layouts
from .context import ModuleRef
from .layer_choice import factory_choice
from .layout import Tag
from .list_joins import joined_lists
from . import factory_makers
from .closures import takes_own_rngs
from .optional_values import guarded as guarded_conversion
from .body_support import code, _dtype_identity, expr, _is_none, _passes_rngs


class ExpressionsMixin:
    """The expressions room of FunctionRewriter (function_rewriter.py)."""

    def ask_image(self, t: Tag, want: Tag) -> None:
        """A value in torch order only provisionally (a parameter undecided when first
        met, or as some callers handed it: its ``origin``) is an image batch
        (image_batches.py): the function takes that parameter channels-last from the
        next round on, whatever those callers hand (they transpose; callers that
        cannot see the function hand it channels-last as they are)."""
        if t.kind == L.TENSOR and t.origin is not None and not t.channels_last and self.func_name != "__init__" \
                and L.is_image_layout(want):
            # (a permutation no image batch has, a held (0, 2, 1, 3) of attention heads,
            # is how one caller holds its tensor: nothing to ask of this parameter)
            self.f.return_layouts.setdefault(self.return_key + ("image", t.origin), want)

    def to_layout(self, node: cst.BaseExpression, tag: Tag, want: Tag, why: str = "",
                  guarded: bool = False) -> cst.BaseExpression:
        """Wrap ``node`` in a transpose taking ``tag`` to ``want`` (if needed);
        ``guarded``: a value of unknown rank, transposed only at ``want``'s rank
        (any_rank.guarded)."""
        rank = len(tag.perm) if tag.perm is not None else (len(want.perm) if want.perm is not None else None)
        if rank is None:
            return node
        if tag.kind == L.TENSOR and tag.perm is None and tag.rank is None and isinstance(node, cst.Name) \
                and self.env.get(node.value) == tag and not guarded:
            # a torch-order name of unknown rank (`x.view(B, C, *size)`) taken as a
            # rank-`rank` layout's input has that rank from here on
            self.env[node.value] = tag.with_(rank=rank)
        if tag.perm is not None and want.perm is not None and len(tag.perm) != len(want.perm):
            # no transpose takes a rank to another: the analysis read one of them wrong
            self.todo(node, "T2N005", f"a rank-{len(tag.perm)} layout where one of rank {len(want.perm)} "
                                      f"is wanted{' (' + why + ')' if why else ''}: left as it is")
            return node
        axes = L.transpose_axes(tag.perm, want.perm, rank)
        if axes == tuple(range(rank)):
            return node
        self.transposes += 1
        if why:
            self.info(node, why)
        if tag.or_flat or self.any_rank or guarded:
            # maybe flattened already (reshape_choice), or tokens where this module is
            # written for a map (any_rank.py): transposed only at its rank, and
            # still maybe flat after (a Linear or an Identity keeps either rank)
            helper = "torch_order" if L.is_identity(want.perm) else "map_order"
            new = expr(f"{self.build_ctx.helper(helper)}({code(node)}, {axes})")
        else:
            new = expr(f"jnp.transpose({code(node)}, {axes})")
        if isinstance(node, cst.Name) and node.value in self.optional_names:
            new = guarded_conversion(node.value, code(new))  # None stays None (optional_values.py)
        self.set(new, (want if want.perm is not None else L.plain(rank)).with_(or_flat=tag.or_flat))
        return new

    def to_taken(self, node, t: Tag, want, provisional: bool = False):
        """``node`` (tagged ``t``) handed to a parameter a summary says takes ``want``:
        undecided, it is decided so; in torch order where ``want`` is channels-last, it
        is transposed (and asked to be an image where it came in undecided); for a
        plain ``want``, it goes in torch's order. Returns the value and its tag."""
        if t.kind == L.SEQ and getattr(want, "kind", None) == L.SEQ:
            moved = tuple_layouts.to_taken(self, node, t, want)  # a tuple of maps and tokens: item by item
            if moved is not None:
                return moved, self.tag(moved)
        if want is None or want.kind != L.TENSOR or not t.is_tensor:
            return node, t
        if t.kind == L.TENSOR and None not in (L.rank_of(t), L.rank_of(want)) and L.rank_of(t) != L.rank_of(want):
            # a parameter whose code fixes another rank than this value's (a slot's token
            # mixer handed a block's map): only built where that rank reaches it, as it is
            return node, want
        if not want.channels_last:
            if t.kind == L.FREE and provisional:
                # the callee reads it in torch order only provisionally (its shape read
                # before any layer: `H, W = x.shape[-2:]` in a check): so is it here, and
                # a spatial layer it reaches later makes it channels-last next round
                # (the callee then gets it transposed)
                return node, self.decide(t, L.plain().with_(origin=t.param))
            return self.canonical(node), L.plain()
        if t.kind == L.FREE:
            return node, self.decide(t, want)
        if not t.channels_last:
            self.ask_image(t, want)
            return self.to_layout(node, t, want), want
        return node, t

    def canonical(self, node, why: str = "") -> cst.BaseExpression:
        """The value in torch's logical order (plain)."""
        t = self.tag(node)
        if t.kind == L.FREE:
            self.decide(t, L.plain())
            return node
        items = tuple_layouts.canonical(self, node, t, why)  # a tuple of maps and tokens: item by item
        if items is not None:
            return items
        if self.is_runtime_weight(t):
            # a layer's weight in the NNX layer's order, known only at run time
            return self.set(expr(f"{self.build_ctx.helper('torch_weight_value')}({code(node)})"), L.plain())
        if t.kind == L.SEQ and t.channels_last:
            axes = L.transpose_axes(t.perm, None, len(t.perm))
            self.transposes += 1
            if why:
                self.info(node, why)
            if isinstance(node, (cst.List, cst.Tuple)):
                new = node.with_changes(elements=[e.with_changes(value=expr(
                    f"jnp.transpose({code(e.value)}, {axes})")) for e in node.elements])
            else:
                new = expr(f"[jnp.transpose(t, {axes}) for t in {code(node)}]")
            return self.set(new, L.plain().with_(kind=L.SEQ))
        if t.channels_last:
            return self.to_layout(node, t, L.plain(len(t.perm)), why)
        return node

    # ---------------------------------------------------------- expressions

    def _called_on_a_tensor(self, call) -> bool:
        """A call in a module's forward whose first argument is a tensor (no layer
        class takes one to be built)."""
        if not call.args or call.args[0].keyword is not None or call.args[0].star \
                or self.cls is None or self.func_name != "forward":
            return False
        t = self.tag(call.args[0].value)
        return t.kind == L.TENSOR or (t.kind == L.FREE and t.param in self.summary.params)

    def visit_Lambda(self, node):
        factory_makers.enter(self, node)

    def leave_Lambda(self, original, updated):
        """``lambda d: Block(d)`` handed on as a factory: whoever calls it passes
        ``rngs`` as to any factory, so it takes them (ours by default; its own
        when a factory maker returns it, or it is a default value: factory_makers.py)."""
        made = factory_makers.leave(self, original, updated, updated.body)
        if made is None:
            made = factory_makers.handed_on(self, original, updated)  # a parameter-free layer's factory
        if made is not None:
            return made
        if not self.build_ctx.rngs_available or not _passes_rngs(updated.body):
            return updated
        return updated.with_changes(params=takes_own_rngs(updated.params, self.build_ctx.rngs))

    def leave_Integer(self, original, updated):
        return self.set(updated, L.OTHER_TAG)

    def leave_Float(self, original, updated):
        return self.set(updated, L.OTHER_TAG)

    def leave_SimpleString(self, original, updated):
        return self.set(updated, L.OTHER_TAG)

    def leave_UnaryOperation(self, original, updated):
        return self.set(updated, self.tag(updated.expression))

    def leave_List(self, original, updated):
        return self._sequence(updated)

    def leave_Tuple(self, original, updated):
        return self._sequence(updated, returned=self._returned(original))

    def _returned(self, original) -> bool:
        """The tuple a return statement returns (several results, each its own)
        or an assignment unpacks into: no operands of one op."""
        stmt = self._stmts[-1] if self._stmts else None
        return isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(s, cst.Return) and s.value is original
            or isinstance(s, cst.Assign) and any(t.target is original for t in s.targets)
            for s in stmt.body)

    def _sequence(self, updated, returned=False):
        updated = self._starred_shapes(updated)
        tags = [self.tag(e.value) for e in updated.elements]
        tensors = [t for t in tags if t.kind in (L.TENSOR, L.FREE)]
        if not tags and isinstance(updated, cst.List):
            return self.set(updated, Tag(L.SEQ))  # an empty list: filled by .append
        if not tensors:
            if tags and all(t.kind == L.MODULE for t in tags):
                return self.set(updated, Tag(L.MODULE, module=ModuleRef(
                    "list", elements=tuple(t.module for t in tags))))
            return self.set(updated, Tag(L.OTHER) if tags and all(t.kind == L.OTHER for t in tags) else L.UNKNOWN_TAG)
        perms = {t.perm for t in tensors if t.kind == L.TENSOR}
        if len(perms) <= 1:
            tag = next((t for t in tensors if t.kind == L.TENSOR), tensors[0])
            if len(tensors) == len(tags) and not returned:
                # operands of one op (a list to cat): an undecided one is laid out as the others
                for t in tensors:
                    if t.kind == L.FREE:
                        self.decide(t, tag)
            if tag.kind == L.FREE:
                if returned and len({t.param for t in tensors}) > 1:
                    # `return x1, x2`: each parameter handed back as it came
                    return self.set(updated, Tag(L.SEQ, module=tuple(tags)))
                return self.set(updated, Tag(L.SEQ, param=tag.param))
            return self.set(updated, tag.with_(kind=L.SEQ, module=tuple(tags)))
        if isinstance(updated, cst.Tuple):
            # a tuple of differently laid-out tensors (several outputs): each keeps its own
            return self.set(updated, Tag(L.SEQ, module=tuple(tags)))
        # mixed layouts in one list (cat of a conv output and a plain tensor): torch order
        elems = [e.with_changes(value=self.canonical(e.value, "mixed layouts in one sequence"))
                 for e in updated.elements]
        return self.set(updated.with_changes(elements=elems), L.plain().with_(kind=L.SEQ))

    def _starred_shapes(self, updated):
        """``(*shape, self.heads)`` with ``shape`` a channels-last tensor's shape
        (vit-pytorch's CvT: ``b, n, _, y, h = *shape, self.heads``): the sizes
        unpacked into the display in torch's order, as the names they bind mean."""
        elems = list(updated.elements)
        for i, e in enumerate(elems):
            if isinstance(e, cst.StarredElement):
                # an undecided parameter's shape unpacked so: taken in its layout from the start next round
                shape_reads.note_unpacked(self, self.tag(e.value))
                src = shape_values.torch_order_source(self, e.value, code(e.value))
                if src is not None:
                    elems[i] = e.with_changes(value=self.set(expr(src), L.OTHER_TAG))
        return updated.with_changes(elements=elems) if any(a is not b for a, b in zip(elems, updated.elements)) \
            else updated

    def leave_BinaryOperation(self, original, updated):
        left, right = updated.left, updated.right
        lt, rt = self.tag(left), self.tag(right)
        if isinstance(updated.operator, cst.MatrixMultiply):
            left, right = self.canonical(left), self.canonical(right)
            return self.set(updated.with_changes(left=left, right=right), L.plain())
        if isinstance(updated.operator, cst.Add) and lt.kind == L.SEQ and rt.kind == L.SEQ:
            return joined_lists(self, updated, lt, rt)
        left, right, tag = self.elementwise(left, right, lt, rt)
        return self.set(updated.with_changes(left=left, right=right), tag)

    def elementwise(self, left, right, lt: Tag, rt: Tag):
        """Two operands of a broadcasting op: agree on a layout."""
        if lt.kind == L.OTHER or rt.kind not in (L.TENSOR, L.FREE):
            return left, right, rt if lt.kind == L.OTHER and rt.is_tensor else (lt if lt.is_tensor else L.UNKNOWN_TAG)
        if rt.kind == L.OTHER:
            return left, right, lt
        if lt.kind == L.FREE and rt.kind == L.FREE:
            return left, right, lt
        if lt.kind == L.FREE or rt.kind == L.FREE:
            free, other = (lt, rt) if lt.kind == L.FREE else (rt, lt)
            # a layer's weight read in its kernel order (`w.mul_(scale)`) says nothing
            # of the parameter's layout: the product keeps the kernel's order
            if other.weight:
                return left, right, other
            image = image_batches.by_per_channel(other)
            if image is None:
                return left, right, self.decide(free, other)
            # `x * self.std` with a (C, 1, 1) std: x is an image batch, channels-last,
            # and the std is broadcast to it below
            lt, rt = (self.decide(free, image), rt) if free is lt else (lt, self.decide(free, image))
            if lt.kind == L.FREE or rt.kind == L.FREE:
                return left, right, lt if rt.kind == L.FREE else rt
        if not lt.channels_last and not rt.channels_last:
            for t, o in ((lt, rt), (rt, lt)):
                image = image_batches.by_per_channel(o)
                if image is not None:
                    self.ask_image(t, image)  # a provisional torch-order image batch
        if lt.perm == rt.perm or (not lt.channels_last and not rt.channels_last):
            # broadcasting: the result has the larger rank (and that operand's roles)
            big, small = (rt, lt) if (rt.rank or 0) > (lt.rank or 0) else (lt, rt)
            return left, right, big.with_(one=lt.one and rt.one, roles=big.roles or small.roles,
                                          rank=big.rank if big.rank is not None and small.rank is not None else None)
        # one channels-last, one not
        cl, other = (lt, rt) if lt.channels_last else (rt, lt)
        rank = len(cl.perm)
        if cl.or_flat and other.kind == L.TENSOR and other.rank is None and other.perm is None:
            # a map or, at another rank, a tensor as torch holds it (any_rank.py) next to a
            # torch-order tensor of unknown rank: torch order, the map moved back at its rank
            left = self.canonical(left) if cl is lt else left
            right = self.canonical(right) if cl is rt else right
            return left, right, other

        def moved_small(template):
            # the other operand rewritten (template of its code) to broadcast channels-last
            self.transposes += 1
            if cl is lt:
                return left, expr(template(code(right))), cl.with_(one=False)
            return expr(template(code(left))), right, cl.with_(one=False)
        want = image_batches.by_channel_operand(cl)
        if want is not None:
            self.ask_image(other, want)
        if cl.roles is None and other.kind == L.TENSOR and other.rank == rank:
            # a torch-order tensor next to one only permuted lazily (`pos.permute(0, 2, 1)`,
            # no image axes known): torch order, so a token tensor never turns into the
            # channels-last form of an image the layers it reaches next would assume
            if cl is lt:
                left = self.to_layout(left, cl, other)
            else:
                right = self.to_layout(right, cl, other)
            return left, right, other.with_(one=False)
        if other.rank == rank or (other.perm is not None and len(other.perm) == rank):
            if cl is lt:
                right = self.to_layout(right, other, cl)
            else:
                left = self.to_layout(left, other, cl)
            return left, right, cl.with_(one=False)
        if other.kind == L.TENSOR and other.rank is not None and 0 < other.rank < rank and not other.channels_last:
            # a smaller operand (a (C, 1, 1) layer scale) broadcasts over torch's
            # trailing dims: give it the leading 1s and the channels-last order
            if tuple(cl.perm) == L.cl_perm(rank):
                # torch's trailing axes in channels-last order, no leading 1s added: the
                # same broadcast on the map, and on (B, N, C) tokens a module written for
                # maps is handed under another flag (flag_splits.by_rank)
                if other.rank >= rank - 1:
                    return moved_small(lambda small: f"jnp.moveaxis({small}, {1 - rank}, -1)")
                return moved_small(lambda small: f"jnp.expand_dims({small}, -1)")
            lead = tuple(range(rank - other.rank))
            return moved_small(lambda small: f"jnp.transpose(jnp.expand_dims({small}, "
                                             f"{lead if len(lead) > 1 else lead[0]}), {tuple(cl.perm)})")
        if other.kind == L.TENSOR and other.rank is None and other.perm is None and not other.weight \
                and cl.perm == L.cl_perm(rank) and cl.roles in (None, L.spatial_roles(rank)):
            # a torch-order tensor of a rank known at run time only (a per-channel view to a
            # shape computed in __init__): given the leading 1s and the order there
            # a named map is handed along: run on tokens of another rank, no move
            big = left if cl is lt else right
            like = f", like={big.value}" if isinstance(big, cst.Name) and big.value in self.env else ""
            return moved_small(lambda small: f"{self.build_ctx.helper('torch_broadcast_cl')}({small}, "
                                             f"{tuple(cl.perm)}{like})")
        # unknown rank: fall back to torch order (correct, one transpose)
        left = self.canonical(left, "operand of unknown rank next to a channels-last tensor")
        right = self.canonical(right, "operand of unknown rank next to a channels-last tensor")
        return left, right, L.plain()

    def leave_Comparison(self, original, updated):
        updated = _dtype_identity(updated)
        t = self.tag(updated.left)
        for c in updated.comparisons:
            t = t if t.is_tensor else self.tag(c.comparator)
        return self.set(updated, t if t.is_tensor else L.OTHER_TAG)

    def leave_IfExp(self, original, updated):
        a, b = self.tag(updated.body), self.tag(updated.orelse)
        either = factory_choice(a.module, b.module) if a.kind == b.kind == L.MODULE else None
        if either is not None:
            # `partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear`: either layer
            return self.set(updated, Tag(L.MODULE, module=either))
        if a.kind == L.MODULE and _is_none(updated.orelse):
            # `nn.Conv2d(c, 1, 1) if use_attn else None`: an optional layer slot, only
            # ever called holding the layer (timm's GlobalContext `conv_attn`)
            return self.set(updated, a)
        if b.kind == L.MODULE and _is_none(updated.body):
            return self.set(updated, b)
        if a.kind == b.kind == L.TENSOR and a.perm != b.perm:
            # `self.conv1(w) if self.use_conv else self.fc1(w)`: a channels-last map or
            # plain features; no one tag says both, so both sides go in torch order
            # (before: an unknown value, the map later read as if in torch order)
            body = self.canonical(updated.body, "branch of a conditional expression") if a.perm else updated.body
            orelse = self.canonical(updated.orelse, "branch of a conditional expression") if b.perm else updated.orelse
            return self.set(updated.with_changes(body=body, orelse=orelse), L.join(L.plain(a.rank), L.plain(b.rank)))
        return self.set(updated, L.join(a, b))
