"""Calls in a rewritten function: dispatch of a call to a row, a layer, a
translated class or function, a method of the class; constructor arguments
(rngs, keywords a layer takes under other names); weights handed on.
"""

from __future__ import annotations

import libcst as cst

from ..rules.tensor_names import TENSOR_ATTRIBUTES
from ..rules import registry
from ..rules.base import PLAIN, Rule, Unsupported, parse_params
from . import layout as L
from . import any_rank, autograd_functions, factory_args, held_layers, kept_data, state_io, held_permutations, module_api, param_writes, returned_origins, shape_reads
from .analyze import is_super_reset
from . import sequence_values, tuple_layouts
from .context import UNKNOWN_MODULE, ModuleRef, Summary, module_dict_item
from .decorators import applied_identity
from .imports import dotted
from .layer_globals import constructed
from .layout import Tag
from . import kwarg_splats
from .starred_layers import splat_binds_named, starred_call_source, starred_layer_source
from .factory_splats import factory_splat_call
from .operands import operand
from . import flag_splits
from .rngs_methods import flatten_partial, rngs_method_call
from .body_support import code, expr, INERT_PARAMS, NON_TENSOR_BUILTINS, NON_TENSOR_MODULES, _built

# methods of Python's own values and of torch modules: a parameter calling one may be no tensor
_PYTHON_METHODS = frozenset(n for t in (str, bytes, list, tuple, dict, set, int, float, complex)
                            for n in dir(t) if not n.startswith("_")) | frozenset((
    "bfloat16", "half", "float", "double", "cuda", "cpu", "to", "type", "xpu", "ipu", "mtia",
    "requires_grad_", "share_memory", "apply", "register_buffer", "zero_grad"))


class CallsMixin:
    """The calls room of FunctionRewriter (function_rewriter.py)."""

    def leave_Call(self, original, updated):
        if kept_data.is_kept_call(self, original):
            return self.set(updated, kept_data.KEPT_TAG)
        saved = state_io.rewrite(self, original, updated)
        if saved is not None:  # torch.save / torch.load and the state dicts they carry
            return saved
        if isinstance(updated.func, cst.Name) and updated.func.value == "iter":
            batches = kept_data.converted(self, updated)  # next(iter(loader)): jax batches
            if batches is not None:
                return self.set(batches, L.UNKNOWN_TAG)
        func = updated.func
        value = applied_identity(updated)
        if value is not None:  # torch.compile(mode=...)(fn): fn
            return self.set(value, self.tag(value))
        kept = self.filtered_layers(updated)
        if kept is not None:
            return self.set(updated, kept)
        q = self.f.imports.qualify(func)
        if q is None and isinstance(original.func, cst.Attribute):
            # a static method of a torch class (nn.Transformer.generate_square_subsequent_mask):
            # the class name inside was already rewritten as a value
            q0 = self.f.imports.qualify(original.func)
            if q0 is not None and registry.lookup(q0) is not None:
                q = q0
        if q == "inspect.isfunction" and len(updated.args) == 1:
            # a stateless layer NNX keeps as a function (nn.Identity() -> lambda x: x) is a module in
            # torch, no function: code telling layer factories from layers (pytorchcv) still can
            helper = self.build_ctx.helper("torch_isfunction")
            return self.set(updated.with_changes(func=cst.Name(helper)), L.OTHER_TAG)
        applied = autograd_functions.applied(self, original, updated)
        if applied is not None:  # Cls.apply(x) of a torch.autograd.Function
            return applied
        if q == "functools.partial":  # partial(<f with our rngs bound>, x=1): one partial
            updated = flatten_partial(self, updated)
        if isinstance(func, cst.Subscript) and isinstance(func.value, cst.Name) \
                and set(self.f.function_registries.get(func.value.value, ())) & self.f.builders:
            # `GENOTYPE_OPS[name](c, stride)`: a registry of layer builders (layer_globals.py)
            return self.set(self.add_rngs(updated), Tag(L.MODULE, module=UNKNOWN_MODULE))
        if module_dict_item(func, self.f):  # `resnet.__dict__[name](...)`: a builder of the run
            return self.set(self.add_rngs(updated), Tag(L.MODULE, module=UNKNOWN_MODULE))
        ext = dotted(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
        if ext in self.f.external:
            # a class or layer builder of another file of this run (`layers.ConvBN`: of its module)
            kind = self.f.external[ext]
            if kind == "random":  # draws random numbers (an init function): hand it our stream
                rngs = self.rngs_here(original, ext)
                return self.set(self.add_rngs(updated, rngs) if rngs else updated, L.UNKNOWN_TAG)
            ref = ModuleRef("class", cls=ext) if kind != "builder" else UNKNOWN_MODULE
            if kind == "builder" and ext in self.f.external_builder_returns:
                # what it returns, as its file exported it (builder_layouts.py)
                return self.set(self.add_rngs(updated), self.f.external_builder_returns[ext])
            if kind == "stateless-class" and not self.build_ctx.rngs_available:
                return self.set(updated, Tag(L.MODULE, module=ref))  # built where there are no rngs
            return self.set(self.add_rngs(updated), Tag(L.MODULE, module=ref))
        if self.cls is not None and self.cls.row is not None and isinstance(func, cst.Attribute) \
                and func.attr.value in ("forward", "__call__") and isinstance(func.value, cst.Call) \
                and code(func.value) == "super()" and updated.args:
            return self.super_forward(updated)
        if self.cls is not None and self.cls.row is not None and is_super_reset(updated) \
                and not any(b in self.f.classes for b in self.cls.bases):
            # the torch layer's own reset_parameters: its default initialisation, drawn again
            helper = self.build_ctx.helper("torch_reset_parameters")
            try:
                return self.set(expr(f"{helper}(self, {self.build_ctx.fill_rngs()})"), L.OTHER_TAG)
            except Unsupported as e:
                self.todo(original, e.code, e.message)
                return self.set(updated, L.OTHER_TAG)
        if q is not None and self.f.imports.is_torch(q):
            rule = registry.lookup(q)
            if rule is None:
                last = q.rsplit(".", 1)[-1]
                in_model = self.cls is not None or self.build_ctx.rngs_available
                if not self.f.imports.is_dropped(q) and not (last[:1].isupper() and in_model):
                    # torchvision/einops plumbing (utility functions, weights enums): kept
                    return self.set(updated, L.UNKNOWN_TAG)
                self.todo(original, "T2N001", f"{q} is not supported")
                return self.set(updated, L.UNKNOWN_TAG)
            pos, kw, nodes = self.call_args(updated)
            if pos is None and rule.kwargs_adapter is not None:
                return self.adapt_kwargs(original, updated, rule)
            if pos is None:
                # nn.Linear(i, o, **dd) with dd a parameter: torch's factory keywords at run time
                built = factory_splat_call(self, original, updated, rule)
                if built is not None:
                    return built
            if pos is None and self.splat_is_inert(updated, rule):
                # nn.Dropout(p, **params) where params can only hold `inplace`
                pos, kw, nodes = self.call_args(updated.with_changes(
                    args=[a for a in updated.args if a.star != "**"]))
            starred = pos is None or splat_binds_named(rule, pos)
            if starred and rule.layer:
                src = starred_layer_source(rule, updated, self.build_ctx.helper)
                if src is not None:  # the row's class binds the arguments at run time
                    return self.set(expr(src), Tag(L.MODULE, module=ModuleRef("layer", rule=rule)))
            if starred and not rule.layer:
                src = starred_call_source(rule, updated, self.build_ctx)
                if src is not None:  # bound at run time by a lambda of the row's signature
                    return self.set(expr(src), L.OTHER_TAG)
            if pos is None and kwarg_splats.takes_any_keyword(rule):
                handed = self._hand_on_splats(original, updated, rule)
                if handed is not None:
                    return handed
            if pos is None and not rule.layer and (spread := kwarg_splats.expanded(rule, updated)) is not None:
                updated = spread  # the dict's entries read by name at run time
                pos, kw, nodes = self.call_args(updated)
            if pos is None:
                self.todo(original, "T2N002", f"{q}: starred arguments are not supported here")
                return self.set(updated, L.UNKNOWN_TAG)
            return self.apply_rule(original, rule, pos, kw, nodes)
        if isinstance(func, cst.Attribute) and func.attr.value == "__init__" and self.cls is not None \
                and self.cls.container == "sequential" and isinstance(func.value, cst.Call) and updated.args:
            # super().__init__(*layers): what the Sequential subclass holds
            refs = []
            for a in updated.args:
                t = self.tag(a.value)
                if t.kind == L.MODULE and t.module is not None:
                    refs += list(t.module.elements) if a.star == "*" and t.module.kind == "list" else [t.module]
            self.cls.elements = tuple(refs)
            return self.set(updated, L.OTHER_TAG)
        if isinstance(func, cst.Attribute) and func.attr.value in ("add_module", "register_module"):
            args = _bound_positionally(updated.args, ("name", "module"))
            if args is not None:  # add_module(name=str(i), module=conv): pytorchcv's MixConv
                return self.add_module(original, updated.with_changes(args=args))
        if isinstance(func, cst.Attribute) and func.attr.value == "load_state_dict" \
                and self.tag(func.value).kind == L.MODULE and len(updated.args) >= 1 \
                and self.f.options.weights and not any(a.star for a in updated.args):
            # pretrained weights: the generated weights module next to this file ports them
            args = [code(func.value)] + [code(a.value) if a.keyword is None else f"{a.keyword.value}={code(a.value)}"
                                         for a in updated.args]
            self.f.helpers.add("weights_module")
            return self.set(expr(f"weights_module().load_torch_state_dict({', '.join(args)})"), L.OTHER_TAG)
        if isinstance(func, cst.Attribute) and func.attr.value == "load_state_dict" \
                and self.tag(func.value).kind == L.OTHER:
            # an optimizer or scheduler a row built (TorchOptimizer, TorchStepLR): theirs
            # load what their state_dict() gave, as torch's do
            return self.set(updated, L.OTHER_TAG)
        if isinstance(func, cst.Attribute) and (func.attr.value == "load_state_dict" or (
                func.attr.value == "state_dict" and self.tag(func.value).kind == L.MODULE)):
            on = "a translated model" if self.tag(func.value).kind == L.MODULE else \
                "a value of unknown type (a translated optimizer or scheduler keeps its own)"
            self.todo(original, "T2N005", f"{func.attr.value} on {on}: port torch weights into a model with "
                                          "load_torch_state_dict from the generated weights module")
            return self.set(updated, L.UNKNOWN_TAG)
        by_name = rngs_method_call(self, original, updated)
        if by_name is not None:
            return by_name
        ft = self.tag(func)
        if ft.kind == L.MODULE and ft.module is not None and ft.module.kind == "factory":
            return self.call_factory(original, updated, ft.module)
        if ft.kind == L.MODULE and ft.module is not None and ft.module.kind == "union" and ft.module.elements \
                and all(e.kind == "factory" for e in ft.module.elements):
            # `conv_nd(n)(...)`: one of several layer classes a function hands out
            return self.call_factory(original, updated, ModuleRef("factory", elements=(ModuleRef(
                "union", elements=tuple(_built(e) for e in ft.module.elements)),)))
        if ft.kind == L.MODULE:
            return self.call_module(original, updated, ft.module)
        if q == "functools.partial" and updated.args and self.tag(updated.args[0].value).kind == L.MODULE:
            return self.partial_factory(original, updated)
        if id(original) in self.layer_calls and ft.kind != L.TENSOR:
            # `self.norm = norm_layer(dim)`, `stages += [stage_fn(...)]`: a factory known by its use;
            # `_registry[name](...)`, an alias or partial of a class: those classes (layer_globals)
            return self.call_factory(original, updated, constructed(original.func, self.f) or ModuleRef("factory"))
        if isinstance(func, cst.Attribute) and func.attr.value in ("append", "extend", "insert") and updated.args:
            appended = self.container_add(func, updated)
            if appended is not None:
                return appended
        if isinstance(func, cst.Attribute):
            recv = func.value
            rt = self.tag(recv)
            mname = func.attr.value
            if not (isinstance(recv, cst.Name) and recv.value == "self" and self.cls is not None):
                # torch's Module API (m.named_children(), m.eval() as a value, ...): runtime helpers
                new = module_api.method_call(self, original, updated)
                if new is not None:
                    return new
            if rt.kind == L.MODULE:
                # a module's own method: `self.layer(x)` is handled below; `m.forward` etc.
                pass
            elif mname == "values" and (maps := sequence_values.dict_values(self, rt, updated)) is not None:
                return maps  # a dict of maps' values
            elif rt.kind in (L.TENSOR, L.FREE) or (rt.kind == L.UNKNOWN and registry.unambiguous_method(mname)
                                                     and not self.is_imported(recv)):
                rule = registry.method(mname)
                if rule is not None and not (rule.ambiguous and rt.kind == L.UNKNOWN):
                    pos, kw, nodes = self.call_args(updated)
                    if pos is None:
                        self.todo(original, "T2N002", f"Tensor.{mname}: starred arguments are not supported")
                        return self.set(updated, L.UNKNOWN_TAG)
                    return self.apply_rule(original, rule, [operand(recv, self._operand_parens)] + pos, kw,
                                           [recv] + nodes)
                if rule is None and mname in TENSOR_ATTRIBUTES and (rt.kind == L.TENSOR or (
                        rt.kind == L.FREE and mname not in _PYTHON_METHODS)):
                    # a parameter of unknown type calling a method only tensors have
                    self.todo(original, "T2N001", f"Tensor.{mname} is not supported")
                    return self.set(updated, L.UNKNOWN_TAG)
                if rule is None and mname not in TENSOR_ATTRIBUTES and not mname.startswith("_"):
                    # no tensor has it (``x.keys()``, ``state_dict.pop(k)``): the receiver is a dict
                    # (of maps, sequence_values.py) or another object; the call stays
                    return self.set(updated, L.UNKNOWN_TAG)
            if isinstance(recv, cst.Name) and recv.value == "self" and self.cls is not None:
                return self.call_self_method(original, updated, mname)
        if isinstance(func, cst.Name) and func.value == "self" and self._has_call():
            # self(x) inside another method (a generation loop calling the model):
            # the class's own __call__ summary gives the result's layout (issue 6)
            return self.call_self_method(original, updated, "__call__")
        if isinstance(func, cst.Name):
            name = func.value
            if name in self.f.classes:
                return self.construct_class(updated, name)
            if name == "cls" and self.cls is not None and self.summary.params[:1] == ["cls"] \
                    and self.cls.name in self.f.classes:
                return self.construct_class(updated, self.cls.name)  # a classmethod building its class
            if name in self.f.builders or name in self.f.local_functions:
                updated = self.weights_handed_on(updated, id(original) in self.statement_calls)
            if name in self.f.builders:
                ret = self.f.builder_returns.get((None, name))
                # one seeding its own stream (torch.manual_seed) is handed none
                built = updated if name in self.f.seeded_builders else self.add_rngs(updated)
                return self.set(built, ret if ret is not None else
                                Tag(L.MODULE, module=UNKNOWN_MODULE))
            if name in self.f.random_functions:
                # it draws random numbers: hand it our stream (self.rngs in a module)
                rngs = self.rngs_here(original, name)
                updated = self.add_rngs(updated, rngs) if rngs else updated
            if name in self.f.functions:
                return self.call_summary(updated, self.f.functions[name], fname=name)
            if name in self.f.external_functions and name not in self.f.local_functions:
                # a function of another file of the run (timm's rms_norm2d): its layouts
                return self.call_summary(updated, self.f.external_functions[name])
            if name in self.f.local_functions:
                # defined further down: its layouts are known next round; record ours
                for i, a in enumerate(updated.args):
                    t = self.tag(a.value)
                    if t.kind == L.TENSOR and a.keyword is None and not a.star:
                        self.f.record_call(None, name, f"#{i}", t)
                return self.set(updated, self.tag(updated.args[0].value) if updated.args else L.UNKNOWN_TAG)
            if name == "setattr" and len(updated.args) == 3 and self.cls is not None \
                    and isinstance(updated.args[0].value, cst.Name) and updated.args[0].value.value == "self":
                # setattr(self, name, layer): attributes named at run time (stage2, stage3, ...)
                vt = self.tag(updated.args[2].value)
                if vt.kind == L.MODULE and vt.module is not None:
                    self.cls.attrs.setdefault("*", vt.module)
                if self.cls.container == "named":
                    # a Sequential subclass runs its layers in the order they were set
                    return self.set(updated.with_changes(func=expr("self.add_module"), args=updated.args[1:]),
                                    L.OTHER_TAG)
                if vt.kind == L.MODULE and module_api.may_be_function(vt.module):
                    # a stateless layer kept as a function under a computed name: recorded as a child
                    helper = self.build_ctx.helper("module_add_module")
                    return self.set(updated.with_changes(func=cst.Name(helper)), L.OTHER_TAG)
                return self.set(updated, L.OTHER_TAG)
            if name == "hasattr" and len(updated.args) == 2 and not any(a.star or a.keyword for a in updated.args) \
                    and isinstance(updated.args[1].value, cst.SimpleString):
                # issue 6: feature checks on torch (nanoGPT's hasattr(F, 'scaled_dot_product_attention')):
                # true when the translator has a row for that API
                q = self.f.imports.qualify(updated.args[0].value)
                if q is not None and self.f.imports.is_torch(q):
                    found = registry.lookup(f"{q}.{updated.args[1].value.evaluated_value}") is not None
                    return self.set(cst.Name(str(found)), L.OTHER_TAG)
            listed = sequence_values.listed(self, updated, name)
            if listed is not None:
                return listed
            if name == "sum" and len(updated.args) == 1 and not updated.args[0].star \
                    and updated.args[0].keyword is None:
                # sum(outs) of a list of tensors: a tensor, laid out as they are
                t = self.tag(updated.args[0].value)
                if t.kind == L.SEQ:
                    item = self.element_tag(t)
                    if item.kind == L.TENSOR:
                        return self.set(updated, item)
            if name in NON_TENSOR_BUILTINS:
                # len(seq), enumerate(seq): an nnx.Sequential's layers
                return self.set(module_api.sequence_args(self, updated), L.OTHER_TAG)
            if name in self.f.plain_classes:
                # an instance of a plain class: its .device or .data is its own attribute
                return self.set(updated, L.OTHER_TAG)
        if q is not None and q.split(".")[0] in NON_TENSOR_MODULES:
            # re.compile(...), os.path.join(...): what it returns is no tensor (its .sub is not Tensor.sub)
            return self.set(updated, L.OTHER_TAG)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in self.env:
            # a method of a local Python object (a list's append, a dict's get): not a boundary
            return self.set(updated, L.UNKNOWN_TAG)
        # a call the translator cannot see into: hand it torch-order values
        args = []
        changed = False
        for a in updated.args:
            t = self.tag(a.value)
            if self.is_moved_weight(t) and id(original) in self.statement_calls:
                # a call made for its effect (an init helper filling the weight): the Variable
                args.append(self.hand_on_weight(a, t))
                changed = True
            elif t.channels_last or tuple_layouts.mixed(t):  # (a map and tokens in one tuple: item by item)
                args.append(a.with_changes(value=self.canonical(
                    a.value, "value passed to code the translator cannot see")))
                changed = True
            else:
                args.append(a)
        if changed:
            updated = updated.with_changes(args=args)
        return self.set(updated, L.UNKNOWN_TAG)

    @staticmethod
    def is_moved_weight(t: Tag) -> bool:
        return t.kind == L.TENSOR and t.weight and not L.is_identity(t.perm)

    def weights_handed_on(self, call: cst.Call, in_place: bool = True) -> cst.Call:
        if not any(self.is_moved_weight(self.tag(a.value)) for a in call.args):
            return call
        return self.set(call.with_changes(args=[self.hand_on_weight(a, self.tag(a.value), in_place)
                                                if self.is_moved_weight(self.tag(a.value)) else a
                                                for a in call.args]), self.tag(call))

    def hand_on_weight(self, arg: cst.Arg, t: Tag, in_place: bool = True) -> cst.Arg:
        """A layer's weight handed to a function. A call made for its effect (an
        init helper filling it): the NNX Variable itself (what the function writes
        lands in the layer), marked with torch's axis order. A call whose value is
        used (``conv2d_same(x, self.weight, ...)``): the kernel as an array in
        torch's order, so the callee reads torch's shape and hands it to F.conv2d
        as torch does (a Variable never reaches jax.lax)."""
        helper = "torch_weight" if in_place else "torch_array"
        return arg.with_changes(value=expr(
            f"{self.build_ctx.helper(helper)}({code(arg.value)}, {tuple(t.perm)!r})"))

    def super_forward(self, updated: cst.Call):
        """``super().forward(x)`` in a subclass of a torch layer: the row's layout
        applies to ``x`` (a layout the row decides per call takes torch order)."""
        lay = self.cls.row.layout
        if lay.kind not in ("elementwise", "spatial", "spatial_any", "channel", "plain", "reshape"):
            lay = PLAIN
        first = updated.args[0]
        node, out = self.apply_layout_unary(first.value, self.tag(first.value), lay)
        func = updated.func.with_changes(attr=cst.Name("__call__"))
        return self.set(updated.with_changes(func=func, args=[first.with_changes(value=node)] + list(updated.args[1:])),
                        out)

    def adapt_kwargs(self, original, updated, rule: Rule):
        """``nn.Conv2d(i, o, bias=False, **kwargs)``: the keyword arguments are
        only known at run time, so a helper translates them there."""
        ctor, adapter, n, positional = rule.kwargs_adapter
        # positional arguments past the constructor's own go to the helper by
        # the row's parameter names (nn.Conv2d(i, o, k, stride=s, **kwargs))
        names = [name for name, _, kind in parse_params(rule.params) if kind == "pos"]
        pos, named, star, index = [], [], [], 0
        for a in updated.args:
            if a.star == "**":
                star.append(f"**{code(a.value)}")
            elif a.star or (a.keyword is None and index >= len(names)):
                self.todo(original, "T2N002", f"{rule.name}: these arguments with **kwargs")
                return self.set(updated, L.UNKNOWN_TAG)
            elif a.keyword is None and index >= len(positional):
                named.append(f"{names[index]!r}: {code(a.value)}")
                index += 1
            elif a.keyword is None:
                pos.append(code(a.value))
                index += 1
            elif a.keyword.value in positional:
                pos.insert(positional.index(a.keyword.value), code(a.value))
            else:
                named.append(f"{a.keyword.value!r}: {code(a.value)}")
        merged = "{" + ", ".join(named + star) + "}"
        self.f.helpers.add(adapter)
        self.record_weights(rule, ctor + "(")
        src = f"{ctor}({', '.join(pos)}, **{adapter}({merged}, {n}), rngs={self.build_ctx.rngs})"
        ref = ModuleRef("layer", rule=rule)
        return self.set(expr(src), Tag(L.MODULE, module=ref))

    def splat_is_inert(self, call: cst.Call, rule) -> bool:
        """A ``**kwargs`` splat that can only name parameters without an
        effect in NNX (``inplace``): the arguments bound without it leave no
        other parameter it could fill."""
        spec = parse_params(rule.params)
        named = [n for n, _, k in spec if k in ("pos", "kwonly")]
        positional = [n for n, _, k in spec if k == "pos"]
        if any(k == "varkw" for _, _, k in spec) or any(a.star == "*" for a in call.args):
            return False
        bound = set(positional[:sum(1 for a in call.args if not a.star and a.keyword is None)])
        bound |= {a.keyword.value for a in call.args if a.keyword is not None}
        return all(n in bound or n in INERT_PARAMS for n in named)

    def _hand_on_splats(self, original, updated, rule):
        """A ``**splat`` into the row's ``**`` parameter, handed on (kwarg_splats.py)."""
        placed = kwarg_splats.with_placeholders(updated)
        if placed is None:
            return None
        call, splats = placed
        pos, kw, nodes = self.call_args(call)
        if pos is None or splat_binds_named(rule, pos):
            return None
        # the diagnostics the row gives stand; a failed put-back adds the T2N002 the caller gives
        result = self.apply_rule(original, rule, pos, kw, nodes)
        back = kwarg_splats.put_back(result, splats)
        if back is None:
            return None
        return self.set(back, self.tag(result))

    def call_args(self, call: cst.Call):
        """The arguments' sources (each safe as an operand, see operands.py), by position and keyword."""
        pos, kw, nodes = [], {}, []
        self._operand_parens = set()
        for a in call.args:
            if a.star == "*":
                # *layers: kept as one starred source for rows that take varargs
                pos.append("*" + operand(a.value, self._operand_parens))
                nodes.append(a.value)
                continue
            if a.star == "**":
                return None, None, None
            if a.keyword is not None:
                kw[a.keyword.value] = operand(a.value, self._operand_parens)
            else:
                pos.append(operand(a.value, self._operand_parens))
            nodes.append(a.value)
        return pos, kw, nodes

    def add_rngs(self, call: cst.Call, value: str = "rngs") -> cst.Call:
        if any(a.keyword is not None and a.keyword.value == "rngs" for a in call.args):
            return call
        args = list(call.args)
        if args:
            args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        args.append(cst.Arg(keyword=cst.Name("rngs"), value=cst.parse_expression(value),
                            equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                  whitespace_after=cst.SimpleWhitespace(""))))
        return call.with_changes(args=args)

    def construct_class(self, updated, name):
        info = self.f.classes[name]
        factory_args.note(self, name, updated)  # the layer classes it hands factory parameters
        held_layers.note(self, name, updated)  # the layers it hands its other parameters
        tuple_layouts.note_layers(self, name, updated)  # a Sequential subclass handed its layers
        if not (info.needs_rngs or info.uses_rngs) and not self.build_ctx.rngs_available:
            # a class creating no parameters, built where there are no rngs (a registry at import time)
            return self.set(updated, Tag(L.MODULE, module=ModuleRef("class", cls=name)))
        return self.set(self.add_rngs(updated), Tag(L.MODULE, module=ModuleRef("class", cls=name)))

    def call_self_method(self, original, updated, mname):
        cls = self.cls
        seen = set()
        while cls is not None and cls.name not in seen:
            seen.add(cls.name)
            if mname in cls.methods:
                s = cls.methods[mname]
                if s is None:  # a layer-building method: what it returned last round
                    ret = self.f.builder_returns.get((cls.name, mname))
                    # ours, or the module's own where there are none (called from forward)
                    rngs = self.rngs_here(original, mname)
                    return self.set(self.add_rngs(updated, rngs) if rngs else updated, ret if ret is not None else
                                    Tag(L.MODULE, module=UNKNOWN_MODULE))
                return self.call_summary(updated, s, skip_self=True, owner=cls.name, fname=mname,
                                         in_place=id(original) in self.statement_calls)
            cls = next((self.f.classes[b] for b in cls.bases if b in self.f.classes), None)
        if mname in ("forward",):
            updated = updated.with_changes(func=cst.Name("self"))
            if self._has_call():
                return self.call_self_method(original, updated, "__call__")
            return self.set(updated, L.UNKNOWN_TAG)
        new = module_api.method_call(self, original, updated, self_receiver=True)
        if new is not None:  # torch's Module API (self.apply, self.named_modules(), ...): runtime helpers
            return new
        info = self.lookup_attr(mname)
        if info is None or (isinstance(info, Tag) and info.kind == L.UNKNOWN):
            # an attribute holding a module handed to the constructor: under the
            # contract it takes and returns channels-last, so layouts pass through
            return self.call_module(original, updated, UNKNOWN_MODULE)
        return self.set(updated, L.UNKNOWN_TAG)

    def _has_call(self) -> bool:
        """The class (or a translated base) defines forward, i.e. has a __call__ summary."""
        cls, seen = self.cls, set()
        while cls is not None and cls.name not in seen:
            seen.add(cls.name)
            if cls.methods.get("__call__") is not None:
                return True
            cls = next((self.f.classes[b] for b in cls.bases if b in self.f.classes), None)
        return False

    def call_summary(self, updated, s: Summary, skip_self=False, owner=None, fname=None, in_place=True) -> cst.Call:
        params = s.params[1:] if (skip_self and s.params and s.params[0] == "self") else list(s.params)
        args = list(updated.args)
        bound: dict[str, Tag] = {}
        given: dict[str, Tag] = {}  # the arguments' tags as handed (returned_origins.py)
        rebound = None  # the caller's name the callee writes in place (param_writes.py)
        if self.any_rank and fname is not None:
            any_rank.mark(self, owner, fname)  # handed on: it may see the other rank too
        for i, a in enumerate(args):
            if a.star:
                continue
            pname = a.keyword.value if a.keyword is not None else (params[i] if i < len(params) else None)
            if pname is None:
                continue
            want = s.takes.get(pname)
            rebound = rebound or param_writes.rebound_name(s, pname, a)
            t = given[pname] = self.tag(a.value)
            if self.is_moved_weight(t):
                args[i] = self.hand_on_weight(a, t, in_place)
                bound[pname] = t if in_place else L.plain()
                continue
            if flag_splits.is_split(t):
                value, t, as_is = flag_splits.through_summary(
                    self, a.value, t, want, lambda alt: fname is not None and self.f.record_call(owner, fname, pname, alt))
                args[i] = a = a.with_changes(value=value)
                if as_is:
                    bound[pname] = t
                    continue
            value, t = held_permutations.to_undecided(self, a.value, t, want)
            if value is not a.value:
                args[i] = a = a.with_changes(value=value)
            if want is None or want.kind != L.TENSOR:
                shape_reads.note_read(self, t)  # the callee reads what it is handed
            if fname is not None and t.kind in (L.TENSOR, L.SEQ):
                self.f.record_call(owner, fname, pname, t)
            if any_rank.guarded(self, owner, fname, t, want, s):
                # the callee also runs on other ranks: moved only at the image's rank,
                # nothing asked of our own parameter (any_rank.py)
                value, t = self.to_layout(a.value, t, want, guarded=True), want
            else:
                value, t = self.to_taken(a.value, t, want, pname in s.provisional)
            if value is not a.value:
                args[i] = a.with_changes(value=value)
            bound[pname] = t
        ret = s.returns or L.UNKNOWN_TAG
        if ret.kind == L.FREE:
            ret = bound.get(ret.param, L.UNKNOWN_TAG)
        ret = returned_origins.through_call(self, s, ret, given)
        out = self.set(updated.with_changes(args=args), ret)
        param_writes.note_call(self, out, rebound)
        return out


def _bound_positionally(args, names):
    """The arguments of a call to a method with exactly the parameters ``names``,
    in order and without keywords (the same value nodes); None when they are not
    exactly those (a star, a missing or unknown keyword)."""
    if len(args) != len(names) or any(a.star for a in args):
        return None
    bound = {}
    for i, a in enumerate(args):
        name = a.keyword.value if a.keyword is not None else names[i]
        if name not in names or name in bound:
            return None
        bound[name] = a.value
    return [cst.Arg(value=bound[n], comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            if i < len(names) - 1 else cst.Arg(value=bound[n]) for i, n in enumerate(names)]
