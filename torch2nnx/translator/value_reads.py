"""Reads of names, attributes and subscripts in a rewritten function: a
layer's torch attribute on the NNX layer, tensor properties, shape reads
remapped to the value's layout, tensor indexing.
"""

from __future__ import annotations

import ast
import re

import libcst as cst

from ..rules import registry
from ..rules.base import Rule, Unsupported, bind
from ..rules.constants import DTYPE_VALUES
from ..rules.module_methods import BY_NAME as MODULE_METHOD_NAMES, REQUIRES_GRAD_ATTR
from . import layout as L
from .kernel_layout import kept_torch_params, renamed_torch_attrs, renamed_torch_params, weight_tag
from . import module_api, named_members
from . import sequence_values
from .context import UNKNOWN_MODULE, ModuleRef
from .emit import definitions
from .imports import dotted
from .layout import Tag
from .modeflag import READ as MODE_FLAG_READ
from .modeflag import is_mode_flag
from .operands import indexed_rank
from . import flag_splits
from .rngs_methods import bind_rngs, rngs_method_value
from .body_support import code, _picks_a_channel, expr, _defines


class ValueReadsMixin:
    """The value reads room of FunctionRewriter (function_rewriter.py)."""

    def visit_Attribute(self, node):
        self._not_values.add(id(node.attr))  # `x.Tensor`: an attribute name, not a use of Tensor

    def visit_Arg(self, node):
        if node.keyword is not None:
            self._not_values.add(id(node.keyword))

    def leave_Name(self, original, updated):
        if id(original) in self._not_values:
            return updated
        if updated.value in self.env:
            if flag_splits.is_split(self.env[updated.value]) and not self.is_store(original):
                return flag_splits.read(self, original, updated, self.env[updated.value])
            return self.set(updated, self.env[updated.value])
        if self.is_store(original):
            return updated  # a place written to, not a use of what the name held
        if updated.value in ("True", "False", "None") or updated.value in self.f.plain_globals:
            return self.set(updated, L.OTHER_TAG)
        q = self.f.imports.qualify(updated)
        if q is not None and self.f.imports.is_torch(q) and id(original) not in self._call_funcs:
            return self.torch_value(original, updated, q)
        if (updated.value in self.f.builders or updated.value in self.f.random_functions
                or self.f.external.get(updated.value) in ("builder", "random")) \
                and updated.value not in self.f.classes and id(original) not in self._call_funcs \
                and not self._annotation and self.build_ctx.rngs_available:
            # a function taking rngs handed on as a value (named_apply(_init_weights, self)):
            # whoever calls it does not know, so ours are bound
            return self.set(bind_rngs(self, updated, self.build_ctx.rngs), L.OTHER_TAG)
        if (updated.value in self.f.random_functions or self.f.external.get(updated.value) == "random") \
                and id(original) not in self._call_funcs and not self._annotation \
                and (self.cls is not None or self.build_ctx.function is not None) and not self.build_ctx.in_init:
            # an init function handed on where there are no rngs: the module's own
            # (timm's init_weights(): named_apply(partial(_init_nest_weights, ...), self)), or
            # the function takes rngs itself
            rngs = self.rngs_here(original, code(original))
            return self.set(bind_rngs(self, updated, rngs) if rngs else updated, L.OTHER_TAG)
        if updated.value in self.f.classes and id(original) not in self._call_funcs and not self._annotation:
            # a translated class handed around (blocks = [BasicConv2d, ...]): calling it builds a layer
            return self.set(updated, Tag(L.MODULE, module=ModuleRef(
                "factory", elements=(ModuleRef("class", cls=updated.value),))))
        return updated

    # ------------------------------------------------------ classes as values

    def leave_Attribute(self, original, updated):
        q = self.f.imports.qualify(updated)
        if q is None and (oq := self.f.imports.qualify(original)) is not None \
                and (registry.lookup(oq) is not None or registry.constant(oq) is not None):
            q = oq  # a row's name whose prefix a value row already rewrote (nn.utils.parametrizations.weight_norm)
        store = self.is_store(original)
        if q is not None and self.f.imports.is_torch(q):
            if id(original) in self._call_funcs or store:
                return updated  # a torch attribute written to: the leftover pass marks it
            return self.torch_value(original, updated, q)
        base = updated.value
        name = updated.attr.value
        if name == REQUIRES_GRAD_ATTR and id(original) not in self._call_funcs \
                and id(original) not in self.assign_targets and not self.is_imported(base):
            # `p.requires_grad` read: False for a parameter frozen with requires_grad_(False)
            return self.set(expr(f"{self.build_ctx.helper('module_requires_grad')}({code(base)})"), L.OTHER_TAG)
        if is_mode_flag(self, updated):
            # torch's mode flag: translated classes hold `deterministic`, which
            # model.eval() / model.train() set, like they do for nnx.Dropout
            if store:
                return self.set(updated, L.OTHER_TAG)  # the assignment sets the flag (modeflag.py)
            self.cls.uses_training = True
            return self.set(expr(MODE_FLAG_READ), L.OTHER_TAG)
        if name == "training" and isinstance(base, cst.Name) and base.value != "self" and not store \
                and not self.is_imported(base) and id(original) not in self._call_funcs:
            # `module.training` of a module handed to a function (transformers'
            # eager_attention_forward(module, ...)): the translated mode flag it keeps
            return self.set(expr(f"{self.build_ctx.helper('module_training')}({code(base)})"), L.OTHER_TAG)
        if isinstance(base, cst.Name) and base.value == "self" and self.cls is not None and self.cls.row is not None \
                and self.layer_attr(self.cls.row, name) is not None and name not in dict(self.cls.row.init_attrs):
            # a subclass of a torch layer reads its weights under the NNX layer's names
            hyper = name in dict(self.cls.row.attrs)
            return self.set(self.layer_read(original, updated, self.layer_attr(self.cls.row, name), store),
                            L.OTHER_TAG if hyper else weight_tag([self.cls.row], name))
        if isinstance(base, cst.Name) and base.value == "self" and self.cls is not None:
            bound = rngs_method_value(self, original, updated)
            if bound is not None:
                return bound
            info = self.lookup_attr(name)
            if isinstance(info, ModuleRef):
                return self.set(updated, Tag(L.MODULE, module=info))
            if isinstance(info, Tag):
                return self.set(updated, info)
            return self.set(updated, L.UNKNOWN_TAG if name not in ("training",) else L.OTHER_TAG)
        bt = self.tag(base)
        held = named_members.member_read(self, base, bt, name) if not store else None
        if held is not None:  # a layer of a Sequential built with names, read as an attribute
            return self.set(updated, Tag(L.MODULE, module=held))
        if bt.kind == L.MODULE and bt.module is not None and bt.module.kind == "dict":
            member = dict(bt.module.elements).get(name)
            if member is not None:  # an entry of a ModuleDict read as an attribute
                return self.set(updated, Tag(L.MODULE, module=member))
        if bt.kind == L.MODULE and bt.module is not None:
            rules = [bt.module.rule] if bt.module.kind == "layer" else [
                e.rule for e in bt.module.elements if e.kind == "layer"] if bt.module.kind == "union" else []
            names = {self.layer_attr(r, name) for r in rules if r is not None}
            if bt.module.kind == "union" and len(rules) < len(bt.module.elements):
                names = set()  # a translated class among them holds torch's names: at run time
            if rules and len(names) == 1 and None not in names:
                hyper = all(name in dict(r.attrs) for r in rules if r is not None)  # a number, not a weight
                return self.set(self.layer_read(original, updated, names.pop(), store),
                                L.OTHER_TAG if hyper else weight_tag(rules, name))
            if bt.module.kind == "class":
                info = self.f.classes.get(bt.module.cls)
                attr = info.attrs.get(name) if info else None
                if isinstance(attr, ModuleRef):
                    return self.set(updated, Tag(L.MODULE, module=attr))
        if bt.kind in (L.UNKNOWN, L.OTHER) and name in self.f.factory_fields and id(original) in self._call_funcs:
            # `block_cnf.block(...)`: a config object's layer factory
            elements = tuple(ModuleRef("class", cls=c) for c in self.f.factory_fields[name])
            return self.set(updated, Tag(L.MODULE, module=ModuleRef("factory", elements=elements)))
        dprop = registry.dtype_property(name)
        if dprop is not None and not store and id(original) not in self._call_funcs and bt.kind != L.MODULE \
                and (not self.is_imported(base) or code(base) in DTYPE_VALUES):
            # a torch.dtype's attribute (dtype.is_floating_point): no tensor or module has it
            return self.set(expr(dprop.build(bind(dprop.params, [code(base)], {}), self.build_ctx)), L.OTHER_TAG)
        if name == "data" and not store and id(original) not in self._call_funcs and (
                self.is_runtime_weight(bt) or bt.kind == L.TENSOR and dotted(base) and not self.is_imported(base)):
            # w.data: the same tensor (the same Variable, in the same order)
            return self.set(base, bt)
        if (bt.is_tensor or bt.kind == L.FREE) and not store and not self.is_imported(base):
            # a Tensor property (x.device) on what may be a tensor; never on a
            # place written to, nor on a module (tf.device, an imported name)
            prop = registry.tensor_property(name)
            if prop is not None:
                return self.apply_property(original, updated, prop, bt)
        if self.untyped_layer_param(original, base, bt, name, store):
            # `layer.attn.proj.weight` on a layer the analysis could not type (built by a
            # factory, an item of a list of blocks): the NNX layer's attribute at run time
            helper = self.build_ctx.helper("torch_layer_attr")
            return self.set(expr(f"{helper}({code(base)}, {name!r})"), L.UNKNOWN_TAG.with_(weight=True))
        if name in kept_torch_params() and self.untyped_layer_param(original, base, bt, "weight", store):
            # `layer.head.fc.bias` likewise: NNX keeps the name, the read is a weight all the same
            # (`.bias.data.mul_(s)` is an in-place write to it)
            return self.set(updated, L.UNKNOWN_TAG.with_(weight=True))
        if not store and id(original) not in self._call_funcs and not self.is_imported(base):
            held = sequence_values.attribute_module(self, bt)
            if held is not None:  # `backbone.features` of a model handed in: a module
                return self.set(updated, held)
        return self.set(updated, L.UNKNOWN_TAG)

    def untyped_layer_param(self, original, base, bt: Tag, name: str, store: bool) -> bool:
        if store or id(original) in self._call_funcs or name not in renamed_torch_params() | renamed_torch_attrs() \
                or self.is_imported(base) or not dotted(base):
            return False
        if bt.kind == L.MODULE:
            m = bt.module
            if m is not None and m.kind == "class":
                info = self.f.classes.get(m.cls)
                # a translated class's own parameter, attribute or property
                return info is None or (name not in info.attrs and name not in info.methods)
            return m is None or m.kind in ("unknown", "factory", "union")
        return bt.kind == L.UNKNOWN and isinstance(base, cst.Attribute)

    def layer_attr(self, rule: Rule, name: str):
        """A torch layer's parameter name (``weight``) on the NNX layer (``kernel``)."""
        maps = rule.weights if isinstance(rule.weights, tuple) else ((rule.weights,) if rule.weights else ())
        for w in maps:
            for e in w.entries:
                if e.torch_name == name:
                    return e.nnx_name
        return dict(rule.attrs).get(name)

    def layer_read(self, original, updated: cst.Attribute, mapped: str, store: bool):
        """``layer.<torch attribute>`` on the NNX layer: its own name (``weight`` ->
        ``scale``), or an expression over it where NNX keeps another form
        (``{layer}``: torch's BatchNorm momentum is ``1 - `` NNX's)."""
        if mapped.isidentifier():
            return updated.with_changes(attr=cst.Name(mapped))
        if store:
            self.todo(original, "T2N004", f"assigns .{updated.attr.value}, which NNX holds as {mapped.format(layer='layer')}")
            return updated
        return expr(f"({self.form_helpers(mapped).format(layer=code(updated.value))})")

    def form_helpers(self, form: str) -> str:
        """A row's expression over a layer, with the runtime helpers it calls (ntuple) emitted."""
        for name in set(re.findall(r"\b([A-Za-z_]\w*)\(", form)):
            if name in definitions("helpers.py"):
                alias = self.build_ctx.helper(name)
                if alias != name:
                    form = re.sub(rf"\b{name}\(", alias + "(", form)
        return form

    def lookup_attr(self, name):
        seen = set()
        cls = self.cls
        while cls is not None and cls.name not in seen:
            seen.add(cls.name)
            if name in cls.attrs:
                return cls.attrs[name]
            if "*" in cls.attrs and not _defines(cls, name) and name not in MODULE_METHOD_NAMES:
                # set with setattr under a computed name (never one of torch's Module methods)
                return cls.attrs["*"]
            cls = next((self.f.classes[b] for b in cls.bases if b in self.f.classes), None)
        return None

    def apply_constant(self, original, updated, rule: Rule):
        try:
            src = rule.build(None, self.build_ctx)
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name}: {e.message}")
            return None
        if rule.weights is not None:
            self.record_weights(rule, src)  # a value that builds layers (nn.utils.parametrizations)
        new = expr(src)
        return self.set(new, L.OTHER_TAG)

    def apply_property(self, original, updated, rule: Rule, bt: Tag):
        if rule.layout.kind == "shape" and self.is_runtime_weight(bt):
            # `w.shape` of a layer's weight known only at run time: torch's shape
            return self.set(updated.with_changes(value=self.canonical(updated.value)), L.OTHER_TAG)
        if rule.layout.kind == "shape":
            # x.shape: the tuple keeps the tensor's tag so indexing and unpacking remap
            new = updated
            return self.set(new, Tag(L.SHAPE, perm=bt.perm if bt.kind == L.TENSOR else None,
                                     param=bt.param if bt.kind == L.FREE else None,
                                     roles=bt.roles if bt.kind == L.TENSOR else None))
        return self.apply_rule(original, rule, [code(updated.value)], {}, [updated.value])

    def leave_Subscript(self, original, updated):
        layer = module_api.subscript(self, updated, store=self.is_store(original))
        if layer is not None:  # seq[i] on an nnx.Sequential: its layers
            return layer
        vt = self.tag(updated.value)
        if self.is_runtime_weight(vt) and not self.is_store(original):
            # `w[:, :3]` of a layer's weight known only at run time: read in torch's order
            return self.set(updated.with_changes(value=self.canonical(updated.value)), L.UNKNOWN_TAG)
        if vt.kind == L.SHAPE:
            if vt.param and len(updated.slice) == 1 and isinstance(updated.slice[0].slice, cst.Index) \
                    and code(updated.slice[0].slice.value) == "0" \
                    and self.resolve(Tag(L.FREE, param=vt.param)).kind == L.FREE:
                # the batch size (ViT's B = x.shape[0]) reads axis 0 in every layout: no decision
                return self.set(updated, Tag(L.OTHER, roles=("N",)))
            if vt.param:
                vt = self.resolve(Tag(L.FREE, param=vt.param))
                if vt.kind == L.FREE:
                    # read in torch order for want of a layout (the origin lets a
                    # spatial layer it reaches later ask for channels-last next round)
                    vt = self.decide(vt, L.plain().with_(origin=vt.param))
            perm = vt.perm
            if perm is not None and not L.is_identity(perm) and len(updated.slice) == 1:
                idx = updated.slice[0].slice
                if isinstance(idx, cst.Index):
                    try:
                        i = ast.literal_eval(code(idx.value))
                    except (ValueError, SyntaxError):
                        i = None
                    if isinstance(i, int):
                        new_i = L.physical_axis(perm, i)
                        if i < 0:
                            new_i -= len(perm)
                        new = updated.with_changes(slice=[updated.slice[0].with_changes(
                            slice=cst.Index(value=cst.Integer(str(new_i)) if new_i >= 0 else expr(str(new_i))))])
                        role = (vt.roles[i],) if vt.roles is not None and -len(vt.roles) <= i < len(vt.roles) else None
                        return self.set(new, Tag(L.OTHER, roles=role))
                    # a non-literal index into a channels-last shape: read the torch-order shape
                    return self._shape_fallback(original, updated, perm)
                if isinstance(idx, cst.Slice):
                    # x.shape[-2:] (timm's pad_same reads H, W): the logical axes' physical places
                    return self.shape_slice(original, updated, idx, perm)
            if vt.roles is not None and len(updated.slice) == 1 and isinstance(updated.slice[0].slice, cst.Index):
                try:
                    i = ast.literal_eval(code(updated.slice[0].slice.value))
                except (ValueError, SyntaxError):
                    i = None
                if isinstance(i, int) and -len(vt.roles) <= i < len(vt.roles):
                    return self.set(updated, Tag(L.OTHER, roles=(vt.roles[i],)))
            return self.set(updated, L.OTHER_TAG)
        if vt.kind == L.SEQ:
            items = vt.module if isinstance(vt.module, tuple) else None
            if items and len(updated.slice) == 1 and isinstance(updated.slice[0].slice, cst.Index):
                try:
                    i = ast.literal_eval(code(updated.slice[0].slice.value))
                except (ValueError, SyntaxError):
                    i = None
                if isinstance(i, int) and -len(items) <= i < len(items):
                    return self.set(updated, items[i])
            if vt.perm is None and items:
                return self.set(updated, L.UNKNOWN_TAG)
            return self.set(updated, L.element(vt))
        if (vt.kind == L.TENSOR or vt.kind == L.FREE) and sequence_values.keyed_maps(updated):
            return self.set(updated, vt)  # features["out"]: a dict of maps, each in the layout it came with
        if vt.kind == L.TENSOR or vt.kind == L.FREE:
            return self.tensor_index(original, updated, vt)
        if vt.kind == L.MODULE and vt.module is not None:
            m = vt.module
            if m.kind in ("list", "sequential") and m.elements and len(updated.slice) == 1 \
                    and isinstance(updated.slice[0].slice, cst.Slice):
                # `self.blocks[:n]` (timm's prune_intermediate_layers): a list of the same
                # layers, not one of them (before, `self.blocks = self.blocks[:n]` made the
                # loop over the blocks call an unknown layer, handed torch order)
                return self.set(updated, vt)
            if m.kind in ("list", "sequential") and m.elements:
                i = None
                if len(updated.slice) == 1 and isinstance(updated.slice[0].slice, cst.Index):
                    try:
                        i = ast.literal_eval(code(updated.slice[0].slice.value))
                    except (ValueError, SyntaxError):
                        i = None
                if isinstance(i, int) and -len(m.elements) <= i < len(m.elements):
                    inner = m.elements[i]
                elif len(set(map(id, m.elements))) == 1:
                    inner = m.elements[0]
                else:
                    inner = ModuleRef("union", elements=m.elements)
                return self.set(updated, Tag(L.MODULE, module=inner))
            return self.set(updated, Tag(L.MODULE, module=UNKNOWN_MODULE))
        return self.set(updated, L.UNKNOWN_TAG)

    def shape_slice(self, original, updated, idx: cst.Slice, perm):
        bounds = []
        for part in (idx.lower, idx.upper, idx.step):
            try:
                bounds.append(None if part is None else ast.literal_eval(code(part)))
            except (ValueError, SyntaxError):
                return self._shape_fallback(original, updated, perm)
        if not all(b is None or isinstance(b, int) for b in bounds):
            return self._shape_fallback(original, updated, perm)
        axes = [perm.index(i) for i in range(len(perm))[slice(*bounds)]]
        base = code(updated.value)
        if axes and axes == list(range(axes[0], axes[-1] + 1)):
            new = expr(f"{base}[{axes[0]}:{axes[-1] + 1}]")
        else:
            new = expr(f"tuple({base}[a] for a in {tuple(axes)})")
        return self.set(new, L.OTHER_TAG)

    def _shape_fallback(self, original, updated, perm):
        axes = tuple(perm.index(i) for i in range(len(perm)))
        # torch-order shape: tuple(shape[a] for a in logical order)
        new = updated.with_changes(value=expr(f"tuple({code(updated.value)}[a] for a in {axes})"))
        return self.set(new, L.OTHER_TAG)

    def tensor_index(self, original, updated, vt: Tag):
        """``x[...]`` on a tensor: slices and integer indices are moved onto the
        channels-last axes; anything else (None, ..., tensor indices) reads
        the tensor in torch order."""
        if not vt.channels_last:
            if vt.kind == L.FREE:
                # torch's order, provisionally (`x[:, 0]` picking a channel): a spatial
                # layer the result reaches takes the parameter channels-last next round
                origin = vt.param if vt.param not in self.decided and self.func_name != "__init__" \
                    and _picks_a_channel(updated.slice) else None
                self.decide(vt, L.plain().with_(origin=origin))
                return self.set(updated, L.plain().with_(origin=origin))
            if vt.kind != L.TENSOR:
                return self.set(updated, L.plain())
            rank = indexed_rank(self, vt.rank, updated.slice)
            if rank == vt.rank:
                return self.set(updated, vt.with_(one=False))
            # `y[:, :, None, None]`: another rank, so a broadcast next to an image
            # batch sees what it is (roles of the axes no longer known)
            return self.set(updated, L.plain(rank))
        perm = vt.perm
        elems = _without_ellipsis(list(updated.slice), len(perm))

        def scalar(e):
            if not isinstance(e.slice, cst.Index) or e.slice.star is not None:
                return False
            t = self.tag(e.slice.value)
            return t.kind == L.OTHER and not (isinstance(e.slice.value, cst.Name) and e.slice.value.value == "None")

        simple = len(elems) <= len(perm) and all(isinstance(e.slice, cst.Slice) or scalar(e) for e in elems)
        if simple:
            full = elems + [cst.SubscriptElement(cst.Slice(lower=None, upper=None))] * (len(perm) - len(elems))
            phys = [full[perm[i]] for i in range(len(perm))]

            def is_full(p):
                return isinstance(p.slice, cst.Slice) and p.slice.lower is None and p.slice.upper is None \
                    and p.slice.step is None

            while len(phys) > 1 and is_full(phys[-1]):
                phys.pop()
            phys = [p.with_changes(comma=cst.MaybeSentinel.DEFAULT) for p in phys]
            dropped = {i for i, e in enumerate(elems) if not isinstance(e.slice, cst.Slice)}
            if not dropped:
                return self.set(updated.with_changes(slice=phys), vt.with_(one=False))
            newperm = L.after_reduce(perm, dropped)
            roles = tuple(r for i, r in enumerate(vt.roles) if i not in dropped) if vt.roles else None
            # a plain result keeps what its axes are (`x[:, 0]`: (N, H, W), channel_unsqueeze.py)
            tag = L.plain(len(newperm)).with_(roles=roles) if L.is_identity(newperm) \
                else Tag(L.TENSOR, perm=newperm, roles=roles)
            return self.set(updated.with_changes(slice=phys), tag)
        value = self.canonical(updated.value, "indexing a channels-last tensor with None, ... or a tensor")
        return self.set(updated.with_changes(value=value), L.plain())

    # ----------------------------------------------------------------- calls


def _without_ellipsis(elems, rank: int):
    """``x[..., :H, :W]`` (a crop, timm's CPUBone) as the full slices the ``...``
    stands for, so the indices move onto the channels-last axes like any others
    (before, the map was read back in torch order, and a class returned it so)."""
    dots = [i for i, e in enumerate(elems) if isinstance(e.slice, cst.Index) and e.slice.star is None
            and isinstance(e.slice.value, cst.Ellipsis)]
    if len(dots) != 1 or len(elems) - 1 > rank:
        return elems
    i = dots[0]
    full = [cst.SubscriptElement(cst.Slice(lower=None, upper=None))] * (rank - len(elems) + 1)
    return elems[:i] + full + elems[i + 1:]
