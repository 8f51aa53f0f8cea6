"""A torch API call rewritten by its row: arguments bound to the row's
parameters, dims remapped to the operand's layout (permute, view, reductions,
stack), operands in torch's order where the row is plain, weights recorded.
"""

from __future__ import annotations

import ast

import libcst as cst

from ..rules.base import Canonical, Rule, Unsupported, bind
from . import layout as L
from . import batch_noise, channel_unsqueeze, flag_splits, image_batches, patch_reshapes, shape_reads, shape_values
from .context import ModuleRef
from .layout import Tag
from .view_ranks import target_dims, target_rank
from .mixed_sequences import torch_order_elements
from .output_fields import packed_in_torch_order
from .body_support import code, _per_channel_sizes, _source_rank, _writes_receiver


class RowCallsMixin:
    """The row calls room of FunctionRewriter (function_rewriter.py)."""

    def apply_rule(self, original, rule: Rule, pos: list[str], kw: dict[str, str], nodes):
        lay = rule.layout
        try:
            args = bind(rule.params, pos, kw)
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name}: {e.message}")
            return self.set(original, L.UNKNOWN_TAG)
        if rule.layout_of is not None and not rule.layer:
            lay = rule.layout_of(args) or lay
        # map parameter name -> CST node (for tags)
        name_nodes = self._name_nodes(rule, pos, kw, nodes)
        if not rule.layer:
            self._runtime_weights_in_torch_order(rule, args, name_nodes)
            self._moved_weights_in_torch_order(rule, args, name_nodes)
            self._split_tensors_in_one_layout(rule, args, name_nodes)
            for n in lay.sizes:
                src = shape_values.torch_order_source(self, name_nodes.get(n), args.given_src.get(n, ""))
                if src is not None:
                    args.given_src[n] = src
        put_back = channel_unsqueeze.apply(self, rule, args, name_nodes)
        if put_back is not None:
            return put_back
        result = L.plain()
        try:
            if lay.kind in ("elementwise", "spatial", "spatial_any", "channel", "plain", "reshape") and not rule.layer:
                tensor_names = [n for n in lay.tensors if n in name_nodes]
                if tensor_names:
                    first = tensor_names[0]
                    node = name_nodes[first]
                    t = self.tag(node)
                    if lay.kind == "elementwise" and len(tensor_names) > 1:
                        result = t
                        for other in tensor_names[1:]:
                            on = name_nodes[other]
                            ot = self.tag(on)
                            a_node, b_node, result = self.elementwise(node, on, result, ot)
                            if a_node is not node and _writes_receiver(rule) and first == tensor_names[0] \
                                    and t.kind == L.TENSOR and ot.kind == L.TENSOR:
                                # `buf.copy_(v)`, `x.mul_(s)`: the receiver is written, so it
                                # keeps its layout; the operand is brought to it (before, the
                                # receiver was rewritten and the write landed in a temporary)
                                a_node, result = node, t
                                b_node = self.canonical(on) if not t.channels_last else \
                                    self.to_layout(on, ot, t)
                            if a_node is not node:
                                args.given_src[first] = code(a_node)
                            if b_node is not on:
                                args.given_src[other] = code(b_node)
                        if result.channels_last and len(tensor_names) > 2:
                            # `addcmul(a, b, c)` with c alone channels-last: b was only met by
                            # a, every operand meets the joint layout
                            for other in tensor_names[1:-1]:
                                on = name_nodes[other]
                                ot = self.tag(on)
                                if ot.kind == L.TENSOR and not ot.channels_last \
                                        and args.given_src[other] == code(on):
                                    b_node, _, _ = self.elementwise(on, cst.Name("_"), ot, result)
                                    if b_node is not on:
                                        args.given_src[other] = code(b_node)
                    else:
                        new_node, result = self.apply_layout_unary(node, t, lay)
                        if new_node is not node:
                            args.given_src[first] = code(new_node)
                        for other in tensor_names[1:]:
                            on = name_nodes[other]
                            # a spatial op's other tensors are not images (grid_sample's grid)
                            if lay.kind in ("plain", "reshape", "spatial", "spatial_any"):
                                nn_ = self.canonical(on)
                                if nn_ is not on:
                                    args.given_src[other] = code(nn_)
                else:
                    result = L.plain()
                if lay.kind in ("plain", "reshape"):
                    self._canonical_star(rule, args, pos, nodes)
            elif rule.layer:
                pass  # a layer's layout applies where it is called
            elif lay.kind == "dims":
                result = self.remap_dims(original, rule, args, name_nodes)
            elif lay.kind == "permute":
                result = self.permute(rule, args, name_nodes)
                if result is None:
                    src = args.given_src[lay.tensors[0]]
                    return self.set(self.built(src), self._permute_tag)
            elif lay.kind == "stack":
                result = self.stack(rule, args, name_nodes)
            elif lay.kind == "aware":
                return self.aware(original, rule, args, name_nodes)
            elif lay.kind == "view":
                return self.view(original, rule, args, name_nodes, nodes, pos)
            elif lay.kind == "shape":
                node = name_nodes.get(lay.tensors[0])
                bt = self.tag(node) if node is not None else L.UNKNOWN_TAG
                shape_reads.note_read(self, bt)
                result = Tag(L.SHAPE, perm=bt.perm if bt.kind == L.TENSOR else None,
                             param=bt.param if bt.kind == L.FREE else None,
                             roles=bt.roles if bt.kind == L.TENSOR else None)
            elif lay.kind == "source":
                data = name_nodes.get(lay.tensors[0]) if lay.tensors else None
                dt = self.tag(data) if data is not None else None
                rank = dt.rank if dt is not None and dt.kind == L.TENSOR else None
                result = L.plain(_source_rank(args) or rank)  # nn.Parameter(data): data's rank
                if _per_channel_sizes(args) or (dt is not None and dt.kind == L.TENSOR and dt.per_channel):
                    result = result.with_(per_channel=True)
                sizes = [n for n in nodes[:len(pos)] if all(n is not v for v in name_nodes.values())] \
                    or [name_nodes[k] for k in ("size", "shape") if k in name_nodes]
                if sizes:
                    result = batch_noise.like_input(self, sizes) or result
            elif lay.kind == "other":
                packed_in_torch_order(self, rule, args, pos, kw, nodes)
                result = L.OTHER_TAG
            elif lay.kind == "wraps":
                # a layer wrapped (weight_norm(conv)): called as the layer it holds
                node = name_nodes.get(lay.tensors[0])
                result = self.tag(node) if node is not None else L.UNKNOWN_TAG
            src = rule.build(args, self.build_ctx)
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name}: {e.message}")
            return self.set(original, L.UNKNOWN_TAG)
        new = self.built(src)
        for h in rule.helpers:
            self.f.helpers.add(h)
        if rule.layer or rule.weights is not None:
            # a layer, or a call building one (weight_norm(layer)): the weight map of what it builds
            self.record_weights(rule, src)
        if rule.layer:
            ref = ModuleRef("layer", rule=rule, layout=rule.layout_of(args) if rule.layout_of else None)
            if rule.name in ("torch.nn.Sequential",):
                new, ref = self.sequential(original, new, nodes)
            elif rule.name in ("torch.nn.ModuleList",):
                elems = ()
                if nodes:
                    t0 = self.tag(nodes[0])
                    if t0.kind == L.MODULE and t0.module is not None:
                        elems = t0.module.elements if t0.module.kind == "list" else (t0.module,)
                ref = ModuleRef("list", elements=elems)
            elif rule.name in ("torch.nn.ModuleDict",):
                ref = ModuleRef("dict", elements=self._dict_members(nodes[0]) if nodes else ())
            return self.set(new, Tag(L.MODULE, module=ref))
        if rule.returns_tuple and result.kind == L.TENSOR:
            result = result.with_(kind=L.SEQ)
        return self.set(new, result)

    def record_weights(self, rule: Rule, src: str):
        """Note the weight map of the NNX class this construction produced."""
        maps = rule.weights if isinstance(rule.weights, tuple) else ((rule.weights,) if rule.weights else ())
        callee = src.split("(", 1)[0].strip()
        def record(w):
            self.f.weight_maps[w.nnx_class] = w
            for inner in w.requires:  # a composite layer (attention, transformer): its inner layers' maps
                record(inner)

        for w in maps:
            if w.nnx_class == callee or len(maps) == 1:
                record(w)
                return

    def _runtime_weights_in_torch_order(self, rule: Rule, args, name_nodes):
        """A torch parameter read off a layer the analysis could not type
        (``torch_layer_attr``: NNX's kernel, in its own order) handed to an op for its
        value (``w.T``, ``w.shape[0]``, ``F.linear(x, w)``, ``w.sum(1)``) is read in
        torch's order at run time; an op writing into it (``w.normal_()``,
        ``nn.init.zeros_(w)``) gets the Variable itself."""
        writes = rule.name.endswith("_") and not rule.name.endswith("__")
        for i, n in enumerate(rule.layout.tensors):
            node = name_nodes.get(n)
            if node is None or (i == 0 and writes) or not self.is_runtime_weight(self.tag(node)):
                continue
            new = self.canonical(node)
            if new is not node:
                args.given_src[n] = code(new)
                name_nodes[n] = new

    def _moved_weights_in_torch_order(self, rule: Rule, args, name_nodes):
        """A layer's weight read in its NNX order (a Conv2d subclass's ``self.weight``:
        the kernel, (*K, I, O)) handed to an op as a plain operand (``F.conv2d(x,
        self.weight, ...)``, efficientnet_pytorch's same-padding convs): an array in
        torch's order, as the op reads it (the layout tensors are moved as usual). Not
        for an op writing into it (``nn.init.normal_(m.weight)``): that gets the Variable."""
        if rule.name.endswith("_") and not rule.name.endswith("__"):
            return
        for n, node in list(name_nodes.items()):
            if n in rule.layout.tensors or node is None:
                continue
            t = self.tag(node)
            if self.is_moved_weight(t):
                args.given_src[n] = f"{self.build_ctx.helper('torch_array')}({code(node)}, {tuple(t.perm)!r})"

    def _split_tensors_in_one_layout(self, rule: Rule, args, name_nodes):
        """A tensor whose layout a flag chooses (flag_splits.py) handed to an op: in one
        layout, as any other read of it. Its name, an argument of a call, is left split
        for the callee to take as it is (flag_splits.note_args), which a translated
        function or module does and an op does not: timm's Hiera handed
        ``F.scaled_dot_product_attention(q, k, v)`` k and v each held in its flag
        branch's permutation (``add got incompatible shapes``)."""
        for n in rule.layout.tensors:
            node = name_nodes.get(n)
            if node is None or not flag_splits.is_split(self.tag(node)):
                continue
            new, _ = flag_splits.materialize(self, node, self.tag(node))
            new = flag_splits._bare(self, new)
            if new is not node:
                args.given_src[n] = code(new)
                name_nodes[n] = new

    @staticmethod
    def is_runtime_weight(t: Tag) -> bool:
        return t.kind == L.UNKNOWN and t.weight

    def _canonical_star(self, rule: Rule, args, pos, nodes):
        """The tensors a plain row takes through ``*operands`` (``torch.einsum(eq, *operands)``)
        in torch's order, as its named tensors are: the equation names torch's axes."""
        from ..rules.base import parse_params
        spec = parse_params(rule.params)
        varargs = next((n for n, _, k in spec if k == "varargs"), None)
        if varargs is None or varargs not in rule.layout.tensors:
            return
        first = len([n for n, _, k in spec if k == "pos"])
        for i, node in enumerate(nodes[first:len(pos)]):
            if i < len(args.star) and args.star[i] == code(node):
                new = self.canonical(node)
                if new is not node:
                    args.star[i] = code(new)

    def _name_nodes(self, rule: Rule, pos, kw, nodes):
        from ..rules.base import parse_params
        spec = parse_params(rule.params)
        pos_names = [n for n, _, k in spec if k == "pos"]
        out = {}
        i = 0
        for n in nodes[: len(pos)]:
            if i < len(pos_names):
                out[pos_names[i]] = n
            i += 1
        for (k, _), n in zip(kw.items(), nodes[len(pos):]):
            out[k] = n
        return out

    def aware(self, original, rule: Rule, args, name_nodes):
        """Rows that rewrite themselves for the input's layout (F.pad ...)."""
        tname = rule.layout.tensors[0]
        node = name_nodes.get(tname)
        t = self.tag(node) if node is not None else L.plain()
        origin = None
        image_rank = rule.layout.image_in(args) if rule.layout.image_in is not None else None
        if image_rank and t.kind == L.FREE:
            # `rearrange(img, 'b c (h p1) (w p2) -> ...')`: the model's image, taken
            # channels-last like one a conv reads; the pattern is rewritten for it
            t = self.decide(t, L.channels_last(image_rank))
        elif image_rank and t.kind == L.TENSOR and not t.channels_last:
            self.ask_image(t, L.channels_last(image_rank))
        if t.kind == L.FREE:
            row = self.cls.row if self.cls is not None else None
            origin = t.param if t.param not in self.decided else None
            if row is not None and row.layout.kind == "spatial" and row.layout.rank:
                # in a subclass of a spatial layer (timm's BatchNormAct2d calling F.batch_norm),
                # an undecided input takes the layer's layout
                t = self.decide(t, L.channels_last(row.layout.rank))
            elif row is not None and row.layout.kind == "channel" and self.func_name == "forward":
                # a subclass of a channel layer (GroupNorm): its callers hand it channels-last
                # (the row's summary), of a rank the row does not fix
                self.build_ctx.channels_last_any = True
            else:
                # torch's order, provisionally: a spatial layer later makes it channels-last
                t = self.decide(t, L.plain().with_(origin=origin))
        elif t.kind == L.TENSOR and not t.channels_last and t.origin is not None:
            # already read in torch order provisionally (`ih, iw = x.shape[-2:]` before
            # `F.pad(x, ...)`): the result keeps the parameter as its origin
            origin = t.origin
        self.build_ctx.perm = t.perm if t.channels_last else None
        self.build_ctx.result_plain = False
        self.build_ctx.result_cl_rank = None
        self.build_ctx.one = t.channels_last and t.one
        try:
            try:
                src = rule.build(args, self.build_ctx)
                result = t if t.channels_last and not self.build_ctx.result_plain else L.plain()
                if origin is not None and not t.channels_last and not self.build_ctx.result_plain:
                    result = result.with_(origin=origin)
                if self.build_ctx.result_cl_rank:
                    result = L.channels_last(self.build_ctx.result_cl_rank)
            except Canonical:
                new_node = self.canonical(node, f"{rule.name} needs torch order here")
                args.given_src[tname] = code(new_node)
                self.build_ctx.perm = None
                self.build_ctx.result_cl_rank = None
                src = rule.build(args, self.build_ctx)
                rank = self.build_ctx.result_cl_rank
                result = L.channels_last(rank) if rank else L.plain()
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name}: {e.message}")
            return self.set(original, L.UNKNOWN_TAG)
        finally:
            self.build_ctx.perm = None
            self.build_ctx.channels_last_any = False
        for h in rule.helpers:
            self.f.helpers.add(h)
        return self.set(self.built(src), result)

    def permute(self, rule: Rule, args, name_nodes):
        """permute/transpose: a channels-last input often needs no data movement."""
        lay = rule.layout
        tname = lay.tensors[0]
        node = name_nodes[tname]
        t = self.tag(node)
        image = image_batches.by_permute(image_batches.permute_dims(rule, args))
        if t.kind == L.FREE:
            t = self.decide(t, image or L.plain())
        elif image is not None:
            self.ask_image(t, image)
        if lay.swap and not lay.dims:
            # `w.t()`, `w.T`: every dim reversed (a 2-D swap, 0-D and 1-D unchanged); on a
            # tensor held in another order (a Linear's kernel read as torch's weight) only
            # the tag changes
            rank = len(t.perm) if t.perm is not None else (t.rank or None)
            if rank is None or t.kind != L.TENSOR:
                node = self.canonical(node)
                args.given_src[tname] = code(node)
                return L.plain()
            p = list(range(rank))[::-1]
        elif lay.swap:
            d0, d1 = args.lit(lay.dims[0]), args.lit(lay.dims[1])
            if not (isinstance(d0, int) and isinstance(d1, int)):
                node = self.canonical(node)
                args.given_src[tname] = code(node)
                return L.plain()
            rank = len(t.perm) if t.perm is not None else (t.rank or None)
            if rank is None:
                return L.plain()
            d0, d1 = d0 % rank, d1 % rank
            p = list(range(rank))
            p[d0], p[d1] = p[d1], p[d0]
        else:
            vals = [args.lit(n) for n in lay.dims if args.given(n)] if lay.dims else []
            if len(vals) == 1 and isinstance(vals[0], (tuple, list)):
                vals = list(vals[0])
            if len(args.star) == 1:
                vals = args.lit_star(0)
            elif args.star:
                vals = [args.lit_src(s) for s in args.star]
            if not isinstance(vals, (list, tuple)) or not all(isinstance(v, int) for v in vals):
                node = self.canonical(node)
                args.given_src[tname] = code(node)
                return L.plain()
            rank = len(vals)
            p = [v % rank for v in vals]
        if t.kind != L.TENSOR or (t.perm is not None and len(t.perm) != rank):
            return L.plain(rank)
        # the data stays where it is: only the tag changes. Consumers that need
        # torch order transpose (once) where they need it.
        perm = t.perm if t.perm is not None else tuple(range(rank))
        newperm = L.after_permute(perm, tuple(p))
        roles = tuple(t.roles[a] for a in p) if t.roles is not None else None
        self._permute_tag = L.plain(rank) if L.is_identity(newperm) else \
            Tag(L.TENSOR, perm=newperm, rank=rank, roles=roles, one=t.one)
        return None

    def view(self, original, rule: Rule, args, name_nodes, nodes, pos):
        """view/reshape. On a channels-last tensor, a reshape that keeps the batch
        and spatial dims and only splits or merges the channel dims (ShuffleNet's
        channel shuffle, grouped heads) runs on the channels-last data directly;
        a reshape from (N, C) to (N, C, 1, 1) comes out channels-last for free."""
        tname = rule.layout.tensors[0]
        node = name_nodes[tname]
        t = self.tag(node)
        # the target shape, one source and node per dim when they are spelled out
        dims = target_dims(list(zip(pos[1:], nodes[1:len(pos)])) if rule.name.startswith("Tensor.") else [],
                           name_nodes.get("shape"))
        image = patch_reshapes.image_of(self, t, [n for n, _ in dims])
        if t.kind == L.FREE:
            # cut into patches, an image (channels-last); any other reshape: torch order
            t = self.decide(t, image or L.plain())
        elif image is not None:
            self.ask_image(t, image)  # in torch order provisionally (padded first)
        # a channels-last tensor's shape handed whole (x.view(y.shape)): torch's sizes
        if rule.name.startswith("Tensor."):
            for i, (s_src, s_node) in enumerate(zip(pos[1:], nodes[1:len(pos)])):
                fixed = shape_values.torch_order_source(self, s_node, s_src)
                if fixed is not None and i < len(args.star) and args.star[i] == s_src:
                    args.star[i] = fixed
        elif args.given("shape"):
            fixed = shape_values.torch_order_source(self, name_nodes.get("shape"), args.given_src["shape"])
            if fixed is not None:
                args.given_src["shape"] = fixed
        k = target_rank(dims)
        if k == 1 and not isinstance(dims[0][0], (cst.Integer, cst.UnaryOperation)):
            # `x.view(shape)`, `w.view(self.shape)`: a tuple of sizes as likely as one
            # size, of a rank known at run time
            k = None
        # the sizes one by one, when no starred sizes hide how many there are
        dims_nodes = [n for n, _ in dims] if k is not None else []
        dims_src = [code(n) for n in dims_nodes]
        x = code(node)

        def lit(n):
            try:
                return ast.literal_eval(code(n))
            except (ValueError, SyntaxError):
                return None

        try:
            if not t.channels_last:
                if t.kind == L.TENSOR and k is not None and k >= 3 and all(lit(n) == 1 for n in dims_nodes[2:]):
                    # (N, C) -> (N, C, 1, 1): the same bytes as (N, 1, 1, C)
                    src = f"{x}.reshape({', '.join([dims_src[0]] + ['1'] * (k - 2) + [dims_src[1]])})"
                    return self.set(self.built(src), L.channels_last(k, one=True))
                return self.set(self.built(rule.build(args, self.build_ctx)), L.plain(k or None))
            if t.one and (t.roles is None or t.roles == L.spatial_roles(len(t.perm))):
                # spatial dims of size 1: channels-last bytes are in torch order already
                return self.set(self.built(rule.build(args, self.build_ctx)), L.plain(k or None))
            if t.roles is not None and k:
                out = self._channel_reshape(node, t, dims_nodes, dims_src)
                if out is not None:
                    return out
            new_node = self.canonical(node)
            args.given_src[tname] = code(new_node)
            return self.set(self.built(rule.build(args, self.build_ctx)), L.plain(k or None))
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name}: {e.message}")
            return self.set(original, L.UNKNOWN_TAG)

    def _channel_reshape(self, node, t: Tag, dims_nodes, dims_src):
        roles, perm = t.roles, t.perm
        r, k = len(perm), len(dims_nodes)
        n_axes = [i for i in range(r) if roles[i] == "N"]
        s_axes = sorted((i for i in range(r) if roles[i].startswith("S")), key=lambda i: roles[i])
        m = len(s_axes)
        droles = []
        for n in dims_nodes:
            dt = self.tag(n)
            droles.append(dt.roles[0] if dt.kind == L.OTHER and dt.roles else None)
        if len(n_axes) != 1 or m == 0 or k < m + 2 or droles[0] != "N":
            return None
        if droles[k - m:] != [roles[i] for i in s_axes]:
            return None
        middle = droles[1:k - m]
        if any(d is not None and (d == "N" or d.startswith("S")) for d in middle):
            return None
        g_in = [i for i in range(r) if i not in n_axes and i not in s_axes]
        desired = tuple(n_axes + s_axes + g_in)
        axes = L.transpose_axes(perm, desired, r)
        x = code(node)
        if axes != tuple(range(r)):
            self.transposes += 1
            x = f"jnp.transpose({x}, {axes})"
        nm = k - m - 1
        src = f"{x}.reshape({', '.join([dims_src[0]] + dims_src[k - m:] + dims_src[1:k - m])})"
        out_perm = (0,) + tuple(range(1 + nm, k)) + tuple(range(1, 1 + nm))
        out_roles = ("N",) + (("C",) if nm == 1 else tuple(f"C{i}" for i in range(nm))) \
            + tuple(roles[i] for i in s_axes)
        return self.set(self.built(src), Tag(L.TENSOR, perm=out_perm, rank=k, roles=out_roles))

    def stack(self, rule: Rule, args, name_nodes) -> Tag:
        lay = rule.layout
        node = name_nodes.get(lay.tensors[0])
        t = self.tag(node) if node is not None else L.plain()
        fixed = torch_order_elements(self, node, t) if node is not None else None
        if fixed is not None:  # elements in different layouts: each in torch order (mixed_sequences.py)
            args.given_src[lay.tensors[0]] = code(fixed)
            return L.plain()
        if not t.channels_last:
            return L.plain()
        d = args.lit(lay.dims[0]) if args.given(lay.dims[0]) else 0
        if not isinstance(d, int):
            # a computed dim counts in torch's order: stack the tensors channels-first
            new = self.canonical(node, f"{rule.name} with a computed dim on a channels-last tensor")
            args.given_src[lay.tensors[0]] = code(new)
            return L.plain()
        rank = len(t.perm) + 1
        d %= rank
        args.given_src[lay.dims[0]] = "0"
        return Tag(L.TENSOR, perm=(d,) + tuple(a if a < d else a + 1 for a in t.perm))

    def _reduced_image_batch(self, rule: Rule, args):
        if not rule.layout.reduces or len(rule.layout.dims) != 1 or not args.given(rule.layout.dims[0]):
            return None
        try:
            return L.image_batch_by_reduced_dims(ast.literal_eval(args.src(rule.layout.dims[0])))
        except (ValueError, SyntaxError):
            return None

    @staticmethod
    def _same_layout_result(lay, args) -> bool:
        """The op's result has its input's layout whichever dims it is given: it
        removes none (torch.cat, softmax, flip), or keeps them (``keepdim=True``)."""
        if lay.kind != "dims" or lay.result == "other":
            return False
        return not lay.reduces or bool(lay.keepdim and args.given(lay.keepdim) and args.lit(lay.keepdim, None) is True)

    def remap_dims(self, original, rule: Rule, args, name_nodes) -> Tag:
        lay = rule.layout
        tnames = [n for n in lay.tensors if n in name_nodes]
        if not tnames:
            return L.plain()
        node = name_nodes[tnames[0]]
        t = self.tag(node)
        fixed = torch_order_elements(self, node, t)
        if fixed is not None:  # elements in different layouts: each in torch order (mixed_sequences.py)
            args.given_src[tnames[0]] = code(fixed)
            node, t = fixed, self.tag(fixed)
        origin = None
        if t.kind == L.FREE:
            image = self._reduced_image_batch(rule, args)
            if image is not None:
                t = self.decide(t, image)
            else:
                # torch's order, provisionally: a spatial layer the result reaches (SE's
                # x.mean(1, keepdim=True) into a 1x1 conv) takes it channels-last next round
                origin = t.param if t.param not in self.decided and self.func_name != "__init__" else None
                t = self.decide(t, L.plain().with_(origin=origin))
        elif t.kind == L.SEQ and t.param:
            # `torch.cat((x, x_shifted), dim=1)` of an undecided parameter: torch's order,
            # provisionally, as for the parameter alone
            origin = t.param if t.param not in self.decided and self.func_name != "__init__" else None
            t = self.decide(Tag(L.FREE, param=t.param), L.plain().with_(origin=origin)).with_(kind=L.SEQ)
        other_result = lay.result == "other"
        if not t.channels_last:
            return L.OTHER_TAG if other_result else \
                L.plain().with_(origin=t.origin if t.kind in (L.TENSOR, L.SEQ) else None)
        perm = t.perm
        rank = len(perm)
        reduced: set[int] = set()
        ok = True
        for dname in lay.dims:
            if not args.given(dname):
                if lay.nodim == "canonical":
                    ok = False
                    break
                if lay.reduces:
                    # no dim: reduce everything (a scalar) or ops like x.size()
                    reduced = set(range(rank))
                continue
            try:
                v = ast.literal_eval(args.src(dname))
            except (ValueError, SyntaxError):
                if self._same_layout_result(lay, args):
                    # a dim known only at run time (pytorchcv's Concurrent: torch.cat(out,
                    # dim=self.axis)) on an op whose result keeps the input's layout: the
                    # axis found at run time, the tensor left channels-last
                    helper = self.build_ctx.helper("channels_last_axis")
                    args.given_src[dname] = f"{helper}({args.src(dname)}, {perm})"
                    continue
                ok = False
                break
            if v is None:
                reduced = set(range(rank))
                continue
            vals = list(v) if isinstance(v, (tuple, list)) else [v]
            if not all(isinstance(x, int) for x in vals):
                ok = False
                break
            norm = [x + rank if x < 0 else x for x in vals]
            # the channel axis reads best as -1 (the design's `axis=-1`)
            new = [(-1 if a == rank - 1 else a) for a in (L.physical_axis(perm, x) for x in norm)]
            reduced.update(norm)
            args.given_src[dname] = repr(tuple(new)) if isinstance(v, (tuple, list)) else str(new[0])
        if not ok:
            new_node = self.canonical(node, f"{rule.name} with a computed dim on a channels-last tensor")
            args.given_src[tnames[0]] = code(new_node)
            return L.OTHER_TAG if other_result else L.plain()
        if other_result:
            if len(reduced) == 1 and t.roles is not None:
                return Tag(L.OTHER, roles=(t.roles[next(iter(reduced))],))
            return L.OTHER_TAG
        t = L.element(t)
        if lay.reduces and reduced:
            keep = False
            if lay.keepdim and args.given(lay.keepdim):
                keep = args.lit(lay.keepdim, None)
                if keep not in (True, False):
                    return L.plain()
            if keep:
                one = t.one or set(range(2, rank)) <= reduced
                return t.with_(one=one)
            newperm = L.after_reduce(perm, reduced)
            if not newperm or L.is_identity(newperm):
                return L.plain(len(newperm) if newperm else 0)
            roles = tuple(r for i, r in enumerate(t.roles) if i not in reduced) if t.roles else None
            return L.Tag(L.TENSOR, perm=newperm, one=t.one, rank=len(newperm), roles=roles)
        return t

    # ------------------------------------------------------------ statements
