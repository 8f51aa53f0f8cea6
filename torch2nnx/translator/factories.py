"""Containers and factories in a rewritten function: torch values and layer
classes used as values, layer factories (functools.partial, a class chosen
at run time), Sequential / ModuleList / ModuleDict and layers added to them.
"""

from __future__ import annotations

import functools
from pathlib import Path

from typing import Optional

import libcst as cst

from ..rules import registry
from ..rules.base import Rule, Unsupported
from . import layout as L
from . import module_api, named_members
from .context import UNKNOWN_MODULE, ModuleRef
from .layer_choice import ranked_type
from .layer_layouts import layout_move, spatial_out
from .layout import Tag
from .operands import guarded_result, tidy
from .body_support import code, expr, _ordered_dict_items, _is_none


class FactoriesMixin:
    """The factories room of FunctionRewriter (function_rewriter.py)."""

    def torch_value(self, original, updated, q: str):
        """A torch name used as a value, not called: a constant (torch.float32),
        a class in a type position (annotation, isinstance) or a layer class
        handed around as a factory (``norm_layer = nn.BatchNorm2d``)."""
        if q == "torch.nn.Module" and not self._annotation \
                and (id(original) in self._type_nodes or id(original) in self._subclass_nodes):
            # isinstance(self.activ, nn.Module): a stateless layer NNX keeps as a function is one too
            return self.set(expr(self.build_ctx.helper("TorchModule")), L.OTHER_TAG)
        rule = registry.constant(q)
        if rule is not None:
            new = self.apply_constant(original, updated, rule)
            return new if new is not None else updated
        rule = registry.lookup(q)
        if rule is not None and not rule.layer and not self._annotation:
            return self.function_value(original, updated, rule)
        if rule is None or not rule.layer:
            return updated
        if self._annotation or id(original) in self._type_nodes:
            cls = self.nnx_class(rule)
            if cls is None:
                return updated  # no NNX class (a stateless layer): the leftover pass marks it
            if not self._annotation:
                cls = ranked_type(rule, cls, self.build_ctx)
            return self.set(expr(cls), L.OTHER_TAG)
        return self.factory(original, rule, {})

    def function_value(self, original, updated, rule: Rule):
        """``torch.sigmoid`` handed around as a function: a lambda over its
        required parameters, translated like a call."""
        from ..rules.base import Args, parse_params, _REQUIRED

        if rule.layout.kind == "wraps":
            # what calling the variable returns is the wrapped layer, which the layout pass cannot see
            self.todo(original, "T2N004", f"{rule.name} as a value: the layer it wraps is not followed "
                                          "through a variable (call it directly)")
            return updated
        if rule.as_value is not None:
            value = rule.as_value(self.build_ctx)
            if rule.weights is not None:
                self.record_weights(rule, value)  # what calling it builds (weight_norm's wrapper)
            return self.set(expr(value), L.OTHER_TAG)
        required = [n for n, d, k in parse_params(rule.params) if k == "pos" and d is _REQUIRED]
        try:
            body = rule.build(Args(rule.params, {n: n for n in required}, [], {}), self.build_ctx)
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name} as a value: {e.message}")
            return updated
        try:
            value = expr(f"(lambda {', '.join(required)}: {body})")
        except cst.ParserSyntaxError:
            # a row whose translation is statements, not an expression (an optimizer
            # becomes an optax transformation and its state): no value to hand around
            self.todo(original, "T2N004", f"{rule.name} as a value: its translation is not an expression")
            return updated
        for h in rule.helpers:
            self.f.helpers.add(h)
        return self.set(value, L.OTHER_TAG)

    def nnx_class(self, rule: Rule):
        maps = rule.weights if isinstance(rule.weights, tuple) else ((rule.weights,) if rule.weights else ())
        for w in maps:
            if w.nnx_class.startswith("nnx."):
                return w.nnx_class
        for w in maps:
            # a runtime subclass of an NNX layer (TorchBatchNorm): that layer, so
            # isinstance(m, nn.BatchNorm2d) holds for every class the row builds
            base = _nnx_layer_base(w.nnx_class)
            if base is not None:
                return base
        if rule.name in ("torch.nn.Sequential",):
            return "nnx.Sequential"
        if rule.name in ("torch.nn.ModuleList",):
            return "nnx.List"
        if rule.name in ("torch.nn.ModuleDict",):
            return "nnx.Dict"
        if rule.name in ("torch.nn.Dropout", "torch.nn.Dropout1d", "torch.nn.Dropout2d", "torch.nn.Dropout3d"):
            return "nnx.Dropout"
        return None

    def factory(self, original, rule: Rule, given: dict[str, str], keywords: dict[str, str] | None = None):
        """``nn.BatchNorm2d`` as a value: a class named like torch's whose
        construction builds the NNX layer (stateful layers take ``rngs``, like
        every translated constructor), accepting torch's parameters.

        ``given`` are arguments built into the value (a partial's positional
        ones); ``keywords`` a partial's keywords, bound with
        ``functools.partial`` over the class so callers may pass them again
        and code may unbind them (``p.func``, ``p.keywords``) as in torch."""
        from ..rules.base import Args, parse_params, _REQUIRED

        keywords = keywords or {}
        spec = parse_params(rule.params)
        required = [n for n, d, k in spec if k == "pos" and d is _REQUIRED and n not in given]
        # torch's optional parameters too, callers pass them (conv_layer(in, out, k, stride, padding))
        optional = [(n, d) for n, d, k in spec if k in ("pos", "kwonly") and d is not _REQUIRED
                    and n not in given and n not in ("device", "dtype") and not n.startswith("_")]
        body = None
        for opts in (optional, [(n, d) for n, d in optional if n == "inplace"]):
            while body is None:
                params = list(required) + [f"{n}={d}" for n, d in opts]
                # torch's `*args` / `**kwargs` (nn.Identity(*args, **kwargs) takes anything): accepted, unused
                params.append("*args" if any(k == "varargs" for _, _, k in spec) else "*")
                # factory arguments callers hand on (`conv_layer(i, o, 3, **dd)`): accepted, dropped as in calls
                params += [f"{n}=None" for n, _, _ in spec if n in ("device", "dtype") and n not in given]
                params.append("rngs" if rule.stateful else "rngs=None")
                if any(k == "varkw" for _, _, k in spec):
                    params.append("**kwargs")
                args = Args(rule.params, {**{n: n for n in required}, **{n: n for n, _ in opts}, **given}, [], {})
                try:
                    body = rule.build(args, self.build_ctx)
                except Unsupported as e:
                    error = e
                    if e.param is None or e.param not in {n for n, _ in opts}:
                        break
                    # a parameter the build takes only as a constant: left out of the factory's
                    # signature (its default is built; a caller passing it gets a TypeError)
                    opts = [(n, d) for n, d in opts if n != e.param]
            if body is not None:
                break
        accepted = set(required) | {n for n, _ in opts} | {n for n, _, _ in spec if n in ("device", "dtype")}
        if body is not None and keywords and not set(keywords) <= accepted \
                and not any(k == "varkw" for _, _, k in spec):
            # a keyword the class value cannot take at run time: built in as a constant
            return self.factory(original, rule, {**given, **keywords})
        if body is None:
            self.todo(original, error.code, f"{rule.name} as a value: {error.message}")
            return self.set(original, L.UNKNOWN_TAG)
        for h in rule.helpers:
            self.f.helpers.add(h)
        self.record_weights(rule, body)
        bound = Args(rule.params, {**args.given_src, **keywords}, [], {})
        ref = ModuleRef("factory", rule=rule, layout=rule.layout_of(bound) if rule.layout_of else None)
        value = f"(lambda {', '.join(params)}: {body})"
        if not given:
            # the class itself: code may inspect it like torch's (timm's get_norm_act_layer maps
            # a norm layer by __name__, by `in` a set of types; issubclass(act_layer, StarReLU))
            value = f"{self.build_ctx.helper('torch_class')}({rule.short!r}, {self.nnx_class(rule)}, {value[1:-1]})"
        if keywords:
            value = f"functools.partial({value}, {', '.join(f'{k}={v}' for k, v in keywords.items())})"
        return self.set(expr(value), Tag(L.MODULE, module=ref))

    def partial_factory(self, original, updated):
        """``partial(nn.BatchNorm2d, eps=1e-3)``: a factory with those arguments bound."""
        from ..rules.base import parse_params

        m = self.tag(updated.args[0].value).module
        if m is None or m.kind != "factory" or m.rule is None:
            return self.set(updated, self.tag(updated.args[0].value))
        spec = [n for n, _, k in parse_params(m.rule.params) if k == "pos"]
        given, keywords = {}, {}
        for i, a in enumerate(updated.args[1:]):
            if a.star:
                self.todo(original, "T2N002", "partial of a layer class with starred arguments")
                return self.set(updated, L.UNKNOWN_TAG)
            name = a.keyword.value if a.keyword is not None else (spec[i] if i < len(spec) else None)
            if name is None:
                self.todo(original, "T2N002", "partial of a layer class with too many arguments")
                return self.set(updated, L.UNKNOWN_TAG)
            (keywords if a.keyword is not None else given)[name] = code(a.value)
        return self.factory(original, m.rule, given, keywords)

    def filtered_layers(self, call) -> Optional[Tag]:
        """``filter(None, [conv, norm_layer(c), aa if aa else None])``: the layers of the
        list, in order (``nn.Sequential(*filter(None, [...]))`` is a Sequential of them)."""
        if not (isinstance(call.func, cst.Name) and call.func.value == "filter" and "filter" not in self.env
                and len(call.args) == 2 and not any(a.star or a.keyword for a in call.args)
                and isinstance(call.args[0].value, cst.Name) and call.args[0].value.value == "None"
                and isinstance(call.args[1].value, (cst.List, cst.Tuple))):
            return None
        refs = []
        for e in call.args[1].value.elements:
            v = e.value
            if _is_none(v) or isinstance(e, cst.StarredElement):
                if isinstance(e, cst.StarredElement):
                    return None
                continue
            if isinstance(v, cst.IfExp) and _is_none(v.orelse):
                v = v.body  # `create_aa(...) if aa_layer is not None else None`: that layer, when present
            t = self.tag(v)
            if t.kind != L.MODULE or t.module is None:
                return None
            refs.append(t.module)
        return Tag(L.MODULE, module=ModuleRef("list", elements=tuple(refs))) if refs else None

    def call_factory(self, original, updated, m: ModuleRef):
        """``norm_layer(planes)``: builds a layer; gets ``rngs`` like a constructor."""
        if not self.build_ctx.rngs_available:
            if self._called_on_a_tensor(updated):
                # `self.downsample(x)` in forward, the attribute annotated a layer class
                # (`downsample: Optional[Type[nn.Module]]`) but handed a built module:
                # a module of unknown class applied to the tensor
                return self.call_module(original, updated, UNKNOWN_MODULE)
            self.todo(original, "T2N004", "a layer factory called outside a layer-building function")
            return self.set(updated, L.UNKNOWN_TAG)
        new = self.add_rngs(updated)
        if m.rule is not None:
            return self.set(new, Tag(L.MODULE, module=ModuleRef("layer", rule=m.rule, layout=m.layout)))
        if m.elements:
            return self.set(new, Tag(L.MODULE, module=m.elements[0] if len(m.elements) == 1
                                     else ModuleRef("union", elements=m.elements)))
        # a layer of unknown class: maybe a stateless one NNX holds as a function
        return self.set(new, Tag(L.MODULE, module=ModuleRef("unknown", function=True)))

    def add_module(self, original, call: cst.Call):
        """``m.add_module(name, layer)``: a named entry of a dict-like container,
        or an attribute (what torch's state_dict sees either way)."""
        recv = call.func.value
        if call.func.attr.value == "register_module":
            call = call.with_changes(func=call.func.with_changes(attr=cst.Name("add_module")))
        name, value = call.args[0].value, call.args[1].value
        vt = self.tag(value)
        if isinstance(recv, cst.Name) and recv.value == "self" and self.cls is not None:
            literal = name.evaluated_value if isinstance(name, cst.SimpleString) else None
            if not self.cls.container and isinstance(literal, str) and literal.isidentifier():
                # a name known here: the attribute torch registers (a stateless layer is listed)
                self.bind_target(expr(f"self.{literal}"), vt)
                if vt.kind == L.MODULE and module_api.may_be_function(vt.module) and literal not in self.cls.stateless:
                    self.cls.stateless.append(literal)
                return self.set(expr(f"setattr(self, {code(name)}, {code(value)})"), L.OTHER_TAG)
            if vt.kind == L.MODULE and vt.module is not None:
                self.cls.attrs.setdefault("*", vt.module)
                if self.cls.container in ("dict", "named") and isinstance(literal, str) and literal.isidentifier():
                    # read back as self.<name> (timm's ConvNorm: self.bn.weight is the BatchNorm's scale)
                    self.cls.attrs[literal] = vt.module
            if self.cls.container in ("named", "sequential") and self.func_name == "__init__":
                # a Sequential subclass filling itself (timm's ConvNorm: add_module("c", conv),
                # add_module("bn", bn)): its layers in order tell the layouts it takes and returns
                self.cls.elements = tuple(self.cls.elements) + (
                    vt.module if vt.kind == L.MODULE and vt.module is not None else UNKNOWN_MODULE,)
            if self.cls.container == "dict":
                return self.set(expr(f"self.__setitem__({code(name)}, {code(value)})"), L.OTHER_TAG)
            if self.cls.container == "named":
                return self.set(call, L.OTHER_TAG)  # NamedSequential.add_module keeps the order
            if self.cls.container == "sequential":
                return self.set(expr(f"self.layers.append({code(value)})"), L.OTHER_TAG)
            if vt.kind == L.MODULE and module_api.may_be_function(vt.module):
                # a stateless layer kept as a function: recorded as a child for the Module API
                return self.set(expr(f"{self.build_ctx.helper('module_add_module')}(self, {code(name)}, "
                                     f"{code(value)})"), L.OTHER_TAG)
            return self.set(expr(f"setattr(self, {code(name)}, {code(value)})"), L.OTHER_TAG)
        rt = self.tag(recv)
        if rt.kind == L.MODULE and rt.module is not None and rt.module.kind in ("sequential", "list"):
            if vt.kind == L.MODULE and vt.module is not None:
                rt.module.elements = tuple(rt.module.elements) + (vt.module,)
        new = module_api.method_call(self, original, call)
        return new if new is not None else self.set(call, L.OTHER_TAG)

    def container_add(self, func: cst.Attribute, call: cst.Call):
        """``layers.append(nn.Conv2d(...))`` / ``features.append(x)``: what the
        container holds (for layouts of loops and Sequential(*layers))."""
        rt = self.tag(func.value)
        vt = self.tag(call.args[-1].value)
        if func.attr.value == "extend" and vt.kind == L.MODULE and vt.module is not None \
                and vt.module.kind == "list" and len(vt.module.elements) > 1:
            # layers.extend([a, b]): each layer in turn
            for e in vt.module.elements:
                one = cst.Call(func=func, args=[cst.Arg(value=cst.Name("_"))])
                self.set(one.args[-1].value, Tag(L.MODULE, module=e))
                self.container_add(func, one)
                if isinstance(func.value, cst.Name) and func.value.value in self.env:
                    self.set(func.value, self.env[func.value.value])  # what the list holds now
            return self.set(call, L.OTHER_TAG)
        if func.attr.value == "extend":
            vt = L.element(vt) if vt.kind == L.SEQ else (
                Tag(L.MODULE, module=vt.module.elements[0]) if vt.kind == L.MODULE and vt.module
                and vt.module.kind == "list" and vt.module.elements else vt)
        if rt.kind == L.MODULE and rt.module is not None and rt.module.kind in ("list", "sequential"):
            if vt.kind == L.MODULE and vt.module is not None:
                rt.module.elements = tuple(rt.module.elements) + (vt.module,)
            return self.set(call, L.OTHER_TAG)
        if rt.kind == L.SEQ and rt.param and vt.kind == L.TENSOR and isinstance(func.value, cst.Name):
            # a list built from a parameter, extended with our tensors: one layout for all
            self.env[func.value.value] = self.decide(Tag(L.FREE, param=rt.param), vt).with_(kind=L.SEQ)
            return self.set(call, L.OTHER_TAG)
        if rt.kind == L.SEQ and isinstance(func.value, cst.Name):
            name = func.value.value
            if vt.kind == L.MODULE:
                self.env[name] = Tag(L.MODULE, module=ModuleRef("list", elements=(vt.module,)))
            elif rt.perm is None and rt.module is None and vt.kind == L.TENSOR:
                self.env[name] = vt.with_(kind=L.SEQ, module=None)  # the first item decides
            elif vt.kind == L.TENSOR and vt.perm != rt.perm:
                self.env[name] = L.UNKNOWN_TAG
            return self.set(call, L.OTHER_TAG)
        return None

    def built(self, src: str) -> cst.BaseExpression:
        """A build's source as the node standing where the call stood (operands.py)."""
        new = guarded_result(tidy(expr(src), self._operand_parens))
        self._operand_parens = set()
        return new

    # ------------------------------------------------------------ containers

    def _dict_members(self, node):
        """``nn.ModuleDict(dict(wte=..., h=...))`` / ``({"a": ...})``: (name, module)
        pairs, so ``self.transformer.wpe.weight`` knows its layer (nanoGPT)."""
        pairs = []
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "dict":
            items = [(a.keyword.value, a.value) for a in node.args if a.keyword is not None]
        elif isinstance(node, cst.Dict):
            items = [(e.key.evaluated_value, e.value) for e in node.elements
                     if isinstance(e, cst.DictElement) and isinstance(e.key, cst.SimpleString)]
        else:
            return ()
        for name, value in items:
            t = self.tag(value)
            if t.kind == L.MODULE and t.module is not None:
                pairs.append((name, t.module))
        return tuple(pairs)

    def _with_moves(self, new, moves: dict):
        """The container's construction handed the transposes its layers need
        between them (runtime ``sequential`` / ``NamedSequential``)."""
        if not moves or not isinstance(new, cst.Call):
            return new
        func = code(new.func)
        if func == "nnx.Sequential":
            new = new.with_changes(func=expr(self.build_ctx.helper("sequential")))
        elif func == "NamedSequential":
            new = new.with_changes(func=expr(self.build_ctx.helper("MovingNamedSequential")))
        elif func != "sequential":
            return new
        self.transposes += len(moves)
        arg = cst.Arg(keyword=cst.Name("moves"), value=expr(repr(dict(sorted(moves.items())))),
                      equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                            whitespace_after=cst.SimpleWhitespace("")))
        args = list(new.args)
        if args:
            args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        return new.with_changes(args=args + [arg])

    def sequential(self, original, new, nodes):
        """Fold the layouts of a Sequential's layers at construction.

        The container's call site only sees what the first layer takes and the
        last returns; a transpose needed between two layers is put on a
        stateless layer (wrapped in a lambda) so that indices do not move.
        """
        refs = [self.tag(n).module if self.tag(n).kind == L.MODULE else None for n in nodes]
        moves: dict = {}  # layers collected at run time: the transposes between them travel with them
        if len(refs) == 1 and refs[0] is not None and refs[0].kind == "odict":
            elems = tuple(refs[0].elements)  # nn.Sequential(layers), layers filled item by item
            takes, returns = self._fold_refs(list(elems), original, moves)
            return self._with_moves(new, moves), ModuleRef("sequential", elements=elems, takes=takes,
                                                           returns=returns, names=refs[0].names)
        named = _ordered_dict_items(nodes)
        if named is not None:
            elems = tuple(self.tag(v).module if self.tag(v).kind == L.MODULE else UNKNOWN_MODULE for v in named)
            takes, returns = self._fold_refs(list(elems), original, moves)
            return self._with_moves(new, moves), ModuleRef("sequential", elements=elems, takes=takes,
                                                           returns=returns, named=True,
                                                           names=named_members.ordered_dict_names(nodes))
        mixed = isinstance(new, cst.Call) and len(new.args) == len(nodes) > 1 \
            and any(a.star == "*" for a in new.args) and not any(a.star == "**" for a in new.args) \
            and all(r is not None and r.kind == "list" and r.elements
                    for a, r in zip(new.args, refs) if a.star == "*")
        if mixed:
            # Sequential(*stages, pool, head): each starred list a chain of its own (a
            # layout change inside it is marked); the layers around it folded as below,
            # moves made by the stateless layers themselves (the positions after a
            # list are known at run time only)
            refs = [_starred_chain(self, r, original) if a.star == "*" else r for a, r in zip(new.args, refs)]
        elif not isinstance(new, cst.Call) or len(new.args) != len(nodes) or any(a.star for a in new.args):
            # Sequential(*layers): the layers appended to the list, in order
            elems = ()
            if len(refs) == 1 and refs[0] is not None and refs[0].kind == "list":
                elems = refs[0].elements
            if elems:
                return self._with_moves(new, moves), _starred_chain(self, refs[0], original, moves)
            return new, ModuleRef("sequential", elements=tuple(r or UNKNOWN_MODULE for r in refs))
        t = Tag(L.FREE, param="<sequential>")
        takes = None
        args = list(new.args)

        def stateless(r):
            return r is not None and r.kind == "layer" and r.rule is not None and not r.rule.stateful

        for i, r in enumerate(refs):
            lay = None
            if r is not None and r.kind == "layer" and r.rule is not None:
                lay = r.layout or r.rule.layout
            if lay is not None and lay.kind == "permute" and lay.dims:
                # Permute([0, 2, 3, 1]) after a channels-last layer: only the tag
                # changes (the layer becomes the identity); otherwise it moves data
                p = tuple(int(d) for d in lay.dims)
                cur = t.perm if t.perm is not None else tuple(range(t.rank)) if t.rank else None
                if t.kind == L.TENSOR and cur is not None and len(cur) == len(p):
                    args[i] = args[i].with_changes(value=expr("lambda x: x"))
                    after = L.after_permute(cur, p)
                    t = L.plain(len(p)) if L.is_identity(after) else Tag(L.TENSOR, perm=after, rank=len(p))
                    continue
                if t.kind == L.FREE:
                    takes = L.plain(len(p)) if takes is None else takes
                elif t.channels_last:
                    axes = L.transpose_axes(t.perm, None, len(t.perm))
                    args[i] = args[i].with_changes(value=expr(
                        f"(lambda x: {code(args[i].value)}(jnp.transpose(x, {axes})))"))
                    self.transposes += 1
                t = L.plain(len(p))
                continue
            in_rank = (len(t.perm) if t.perm is not None else t.rank) if t.kind == L.TENSOR else None
            want = None
            if lay is not None and lay.kind == "spatial":
                want = L.channels_last(lay.rank)
            elif lay is not None and lay.kind in ("plain", "reshape"):
                want = L.plain()
                if lay.kind == "reshape" and t.channels_last and t.one:
                    want = None
            elif r is not None and r.kind in ("sequential", "class"):
                want = r.takes if r.kind == "sequential" else self._class_takes(r)
            if want is not None:
                if t.kind == L.FREE:
                    takes = want if takes is None else takes
                elif want.channels_last and not (t.channels_last and t.perm == want.perm) or \
                        (not want.channels_last and t.channels_last):
                    axes = layout_move(t, want)
                    if axes is None:
                        # a layer of another rank than the one before it hands: no move to make
                        self.todo(original, "T2N004",
                                  "torch.nn.Sequential: a layer takes another rank than the one before returns")
                    elif stateless(r):
                        args[i] = args[i].with_changes(value=expr(
                            f"(lambda x: {code(args[i].value)}(jnp.transpose(x, {axes})))"))
                        self.transposes += 1
                    elif i > 0 and stateless(refs[i - 1]):
                        args[i - 1] = args[i - 1].with_changes(value=expr(
                            f"(lambda x: jnp.transpose({code(args[i - 1].value)}(x), {axes}))"))
                        self.transposes += 1
                    elif mixed:
                        self.todo(original, "T2N004", "torch.nn.Sequential: a layout change next to layers "
                                                      "collected at run time; build it from separate parts")
                    else:
                        moves[i] = axes  # between two stateful layers: the container moves it
                t = spatial_out(lay, want) if lay is not None and lay.kind == "spatial" else want
            if lay is not None and lay.out_cl:
                t = L.channels_last(lay.out_cl)
            elif lay is not None and lay.kind in ("plain", "reshape"):
                t = L.plain(in_rank if lay.keeps_rank else None)
            elif r is not None and r.kind == "sequential" and r.returns is not None:
                t = r.returns
            elif r is not None and r.kind == "class":
                ret = self._class_returns(r)
                if ret is not None:
                    t = ret
            elif r is None or r.kind == "unknown":
                pass
        returns = None if t.kind == L.FREE else t
        return self._with_moves(new.with_changes(args=args), moves), ModuleRef(
            "sequential", elements=tuple(refs), takes=takes, returns=returns)


def _starred_chain(rw, r, original, moves=None):
    """A list of layers starred into a Sequential, as one chain: what it takes and
    returns. ``moves``: where the layout changes between its layers go (None: the
    list is not the whole Sequential, a change is marked)."""
    for e in r.elements:
        if e is not None and e.kind == "class":
            rw.ask_repeated_return(e.cls)  # a list filled in a loop repeats its layers
    takes, returns = rw._fold_refs(list(r.elements), original, moves)
    return ModuleRef("sequential", elements=tuple(r.elements), takes=takes, returns=returns)


@functools.lru_cache(maxsize=None)
def _runtime_bases() -> dict[str, str]:
    """Each runtime helper class's base, read from the source of
    ``runtime/helpers.py`` (importing it would import JAX and Flax into the
    translator: seconds per process for one lookup)."""
    import ast

    path = Path(__file__).resolve().parent.parent / "runtime" / "helpers.py"
    out = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef) and node.bases:
            out[node.name] = ast.unparse(node.bases[0])
    return out


# the NNX layers (flax.nnx.nn.*) a runtime helper class may subclass
_NNX_LAYERS = frozenset({"BatchNorm", "LayerNorm", "GroupNorm", "RMSNorm", "Conv", "ConvTranspose", "Linear",
                         "Embed", "Dropout", "MultiHeadAttention", "Einsum", "LinearGeneral"})


def _nnx_layer_base(helper_class: str) -> str | None:
    """``nnx.X`` when the runtime helper class ``helper_class`` subclasses the NNX
    layer ``X`` (not merely nnx.Module)."""
    bases = _runtime_bases()
    seen = set()
    while helper_class in bases and helper_class not in seen:
        seen.add(helper_class)
        base = bases[helper_class]
        if base.startswith("nnx.") and base[4:] in _NNX_LAYERS:
            return base
        helper_class = base
    return None
