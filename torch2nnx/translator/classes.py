"""Class shape: nnx.Module bases, ``rngs`` in signatures, ``__call__``,
``super().__init__()`` removed, ``register_buffer`` as Variable attributes."""

from __future__ import annotations

import libcst as cst

from ..rules import registry
from .pytree_attrs import data_slots
from .variable_reads import read_values, value_functions, variable_attrs
from . import layout as L
from . import factory_makers, kept_data, param_writes
from .body_support import code, expr
from .class_annotations import rewrite_annotations
from .function_rewriter import FunctionRewriter
from .context import ClassInfo, FileContext, Summary
from .fastvisit import FastTransformer, FastVisitor
from .imports import dotted
from .module_api import stateless_record
from . import caller_params, row_base, row_forward
from .factory_uses import dynamic_layer_calls, function_locals
from .optional_values import maybe_none_locals, optional_buffer, optional_locals
from .param_ranks import unpacked_rank
from .layer_subclasses import map_super_inits, row_super_base, row_super_init, subclass_init
from ..rules.base import Unsupported


def param_names(func: cst.FunctionDef) -> list[str]:
    p = func.params
    names = [x.name.value for x in list(p.posonly_params) + list(p.params)]
    if isinstance(p.star_arg, cst.Param):
        names.append(p.star_arg.name.value)
    names += [x.name.value for x in p.kwonly_params]
    if p.star_kwarg is not None:
        names.append(p.star_kwarg.name.value)
    return names


def add_rngs_param(func: cst.FunctionDef, annotate: bool = True, optional: bool = False) -> cst.FunctionDef:
    p = func.params
    if any(x.name.value == "rngs" for x in list(p.params) + list(p.kwonly_params)):
        return func
    ann = cst.Annotation(expr("nnx.Rngs | None" if optional else "nnx.Rngs")) if annotate else None
    new = cst.Param(cst.Name("rngs"), annotation=ann, default=cst.Name("None") if optional else None)
    star = p.star_arg
    if star is cst.MaybeSentinel.DEFAULT or star is None:
        star = cst.ParamStar()
    return func.with_changes(params=p.with_changes(star_arg=star, kwonly_params=list(p.kwonly_params) + [new]))


class BufferRewriter(FunctionRewriter):
    """Methods of a translated class (``__init__`` and the helpers it calls, such as
    timm's ``_init_buffers`` or ``_create_cache``): ``register_buffer`` becomes an
    attribute holding a Variable, ``register_parameter`` an attribute holding the
    parameter (``nnx.data(None)`` for None)."""

    maybe_none: set = frozenset()  # locals that may hold None (optional_values.py)

    def leave_SimpleStatementLine(self, original, updated):
        if len(updated.body) == 1 and isinstance(updated.body[0], cst.Expr):
            call = updated.body[0].value
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
                    and code(call.func) == "self.register_buffer":
                updated = self.buffer(original, updated, call)
            elif isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
                    and code(call.func) == "self.register_parameter":
                updated = self.parameter(original, updated, call)
        return super().leave_SimpleStatementLine(original, updated)

    def parameter(self, original, updated, call: cst.Call):
        """``self.register_parameter(name, param)``: torch's ``setattr`` of a Parameter
        (None registers a parameter slot left empty)."""
        pos = [a.value for a in call.args if a.keyword is None]
        kws = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
        name = kws.get("name", pos[0] if pos else None)
        value = kws.get("param", pos[1] if len(pos) > 1 else None)
        if name is None or value is None:
            return updated
        new_value = expr("nnx.data(None)") if code(value) == "None" else value
        if isinstance(name, cst.SimpleString) and str(name.evaluated_value).isidentifier():
            attr = name.evaluated_value
            if self.cls is not None and attr not in self.cls.attrs:
                self.cls.attrs[attr] = L.OTHER_TAG if code(value) == "None" else L.plain()
            assign = cst.Assign(targets=[cst.AssignTarget(expr(f"self.{attr}"))], value=new_value)
            return updated.with_changes(body=[assign])
        setattr_call = cst.Call(func=cst.Name("setattr"), args=[
            cst.Arg(cst.Name("self")), cst.Arg(name), cst.Arg(new_value)])
        return updated.with_changes(body=[cst.Expr(setattr_call)])

    def buffer(self, original, updated, call: cst.Call):
        args = [a for a in call.args]
        name = value = None
        persistent = "True"
        pos = [a for a in args if a.keyword is None]
        kws = {a.keyword.value: a for a in args if a.keyword is not None}
        if pos:
            name = pos[0].value
        if len(pos) > 1:
            value = pos[1].value
        if len(pos) > 2:
            persistent = code(pos[2].value)
        name = kws["name"].value if "name" in kws else name
        value = kws["tensor"].value if "tensor" in kws else value
        if "persistent" in kws:
            persistent = code(kws["persistent"].value)
        if not isinstance(name, cst.SimpleString) or value is None:
            self.todo(original, "T2N004", "register_buffer with a computed name")
            return updated
        attr = name.evaluated_value
        if persistent == "True":
            cls_name = "Buffer"
        elif persistent == "False":
            cls_name = "NonPersistentBuffer"
        else:
            self.todo(original, "T2N004", "register_buffer with a computed persistent flag")
            return updated
        self.f.buffers.add(cls_name)
        if code(value) == "None":
            new_value = expr("nnx.data(None)")
            tag = L.OTHER_TAG
        elif isinstance(value, cst.Name) and value.value in self.maybe_none:
            new_value = optional_buffer(cls_name, value.value)  # torch's attribute is None then
            tag = L.plain()
        else:
            new_value = expr(f"{cls_name}({code(value)})")
            vt = self.tag(value)
            # the tensor's rank, and whether it is a (C, 1, 1) per-channel one
            tag = L.plain(vt.rank).with_(per_channel=vt.per_channel) if vt.kind == L.TENSOR and not vt.channels_last \
                else L.plain()
        if self.cls is not None:
            self.cls.attrs[attr] = tag
        assign = cst.Assign(targets=[cst.AssignTarget(expr(f"self.{attr}"))], value=new_value)
        return updated.with_changes(body=[assign])


def rewrite_function(f: FileContext, func: cst.FunctionDef, cls: ClassInfo | None, *,
                     needs_rngs: bool, kind: str) -> tuple[cst.FunctionDef, Summary]:
    params = param_names(func)
    tags = {}
    hinted = {}
    # the layer's own forward, inherited by a subclass of a channel layer (row_forward.py)
    row_forward_of = cls.row if func is INHERITED_FORWARD and cls.row.image_rank else None
    if kind == "init":
        tags = {p: L.UNKNOWN_TAG for p in params}
    else:
        owner = cls.name if cls is not None else None
        name = "__call__" if func.name.value == "forward" else func.name.value
        for i, p in enumerate(params):
            # a parameter the function's own code shows is an image batch (image_batches.py)
            # is taken channels-last whatever callers handed it; they transpose
            # (but a caller's map or tokens as a flag chose, layout.Tag.ranks_vary: torch order)
            called = f.hints.get((owner, name, p)) or f.hints.get((owner, name, f"#{i}"))
            hint = called if getattr(called, "ranks_vary", False) else \
                f.return_layouts.get((owner, func.name.value, "image", p)) or called \
                or f.return_layouts.get((owner, func.name.value, "param", p))
            if i == 1 and row_forward_of is not None:
                # the layer's own forward: it takes what the layer takes (row_forward.py)
                tags[p] = hinted[p] = row_forward.takes(cls.row, hint)
            elif hint is not None and hint.kind == L.TENSOR and L.rank_of(hint) is not None \
                    and L.rank_of(hint) != (own := unpacked_rank(func, p) or L.rank_of(hint)):
                # callers hand another rank than the code unpacks (a token mixer that a
                # block's slot may hold, told the map the block is written for): the
                # code's rank, torch order; only a caller of that rank runs it
                tags[p] = hinted[p] = L.plain(own)
            elif hint is not None and hint.kind in (L.TENSOR, L.SEQ):
                tags[p] = hinted[p] = hint
                if hint.kind == L.TENSOR and not hint.channels_last and not hint.ranks_vary:
                    # torch order as callers hand it: code showing it is an image batch
                    # asks for it channels-last (image_batches.py, FunctionRewriter.ask_image)
                    tags[p] = hint.with_(origin=p)
            elif hint is None and i == 1 and func.name.value == "forward" and cls is not None \
                    and cls.row is not None and cls.row.image_rank:
                # a subclass of a channel layer (GroupNorm) that no caller tells: its
                # callers (a norm_layer factory, a container) hand it channels-last
                # image batches, as they hand the layer itself; before, a helper it
                # calls first (timm's fast_group_norm) made it take torch order
                # unless its own code unpacks the input's shape at another rank
                # (``b, c, n = x.shape``: audio frames, param_ranks.py)
                rank = unpacked_rank(func, p) or cls.row.image_rank
                tags[p] = hinted[p] = L.channels_last(rank) if rank >= 3 else L.plain(rank)
    if params and params[0] == "self" and cls is not None:
        tags["self"] = L.OTHER_TAG
    if func.params.star_kwarg is not None:
        tags[func.params.star_kwarg.name.value] = L.OTHER_TAG  # **kwargs: a dict, never a tensor
    for param in list(func.params.params) + list(func.params.kwonly_params):
        if param.annotation is not None and _plain_annotation(param.annotation.annotation, f):
            tags[param.name.value] = L.OTHER_TAG  # block_kwargs: Dict[str, Any]: item updates stay dict ones
    from . import factory_args
    from .analyze import factory_params
    from .context import UNKNOWN_MODULE, ModuleRef
    if kind == "init":
        from . import held_layers
        held_layers.param_tags(f, cls, func, tags)  # layers every caller hands (Residual(fn))
    defaults = {p.name.value: p for p in (*func.params.params, *func.params.kwonly_params)}
    for pname, classes in factory_params(func, f).items():
        made = factory_makers.made_by_default(f, defaults[pname]) if pname in defaults else None
        tags[pname] = factory_args.param_tag(f, cls, pname, classes, made) if kind == "init" else made or L.Tag(
            L.MODULE, module=ModuleRef("factory", elements=tuple(ModuleRef("class", cls=c) for c in classes)))
    for param in list(func.params.params) + list(func.params.kwonly_params):
        if param.annotation is not None and kept_data.is_kept_callee(f, param.annotation.annotation):
            tags[param.name.value] = kept_data.KEPT_TAG  # `loader: DataLoader`: batches converted where read
        # `model: nn.Module` (torchvision's _load_state_dict): a translated model
        if param.annotation is not None and f.imports.qualify(param.annotation.annotation) == "torch.nn.Module":
            tags[param.name.value] = L.Tag(L.MODULE, module=UNKNOWN_MODULE)
    from .sequence_values import annotated_module_tags, annotated_sequences
    for pname, t in annotated_module_tags(func, f).items():
        tags.setdefault(pname, t)  # `backbone: MobileNetV3`: a translated class's instance
    if kind != "init":
        annotated_sequences(func, f, tags)  # `x: List[Tensor]`: maps in a list
    rw_cls = BufferRewriter if kind == "init" or cls is not None else FunctionRewriter
    rw = rw_cls(f, cls, func.name.value, params, tags)
    caller_params.begin(rw)  # ended by rw.finish() below
    rw.build_ctx.rngs_available = needs_rngs
    loc = function_locals(func)  # one walk for the helper aliases and the factories
    rw.build_ctx.local_names = loc.names
    if isinstance(rw, BufferRewriter):
        rw.maybe_none = maybe_none_locals(func, f)
    rw.optional_names = optional_locals(func, f, cls.name if cls is not None else None)
    if needs_rngs:
        rw.layer_calls = dynamic_layer_calls(func, f, loc)
    if kind == "function":
        rw.build_ctx.function = func.name.value
    factory_makers.begin(rw, func)
    body = rw.walk(func.body)
    # annotations and defaults in the signature (torch.Tensor -> jax.Array)
    decorators = [rw.walk(d) for d in func.decorators]
    # defaults are evaluated when the def runs: no rngs there (a lambda takes its own)
    rw.in_defaults, rw.build_ctx.rngs_available = True, False
    signature = rw.walk(func.params)
    rw.in_defaults, rw.build_ctx.rngs_available = False, needs_rngs
    original = func
    func = func.with_changes(params=signature,
                             returns=rw.walk(func.returns) if func.returns is not None else None,
                             decorators=[d for d in decorators if isinstance(d, cst.Decorator)])
    func = factory_makers.defaults_without_rngs(rw, original, func)
    if kind == "init":

        def super_init(st) -> list:
            if cls is not None and any(b in f.classes or b in f.external for b in cls.bases):
                # a translated base class: its __init__ runs, and takes rngs
                call = st.body[0].value
                return [st.with_changes(body=[st.body[0].with_changes(value=rw.add_rngs(call))])]
            elif cls is not None and cls.row_base is not None:
                # a subclass of a layer NNX has as a class: torch's arguments bound through the row
                return row_super_init(f, cls, st, rw)
            elif cls is not None and (cls.row is not None or cls.container in ("sequential", "named", "dict", "list")):
                # nnx.Sequential(*layers) / nnx.Dict() / nnx.List() set themselves up; the
                # class generated for a function row takes torch's arguments
                return [st]
            return []

        # every super().__init__ call, also under try/except or if/else (timm's
        # BatchNormAct2d retries without device/dtype on a TypeError)
        body = map_super_inits(body, super_init)
    func = func.with_changes(body=body)
    if needs_rngs:
        # a function seeding its own stream (torch.manual_seed) runs without one handed
        func = add_rngs_param(func, optional=rw.seeds_rngs)
    if cls is not None:
        cls.transposes += rw.transposes
    summary = rw.finish()
    func = param_writes.finish(rw, func, summary, kind)
    if kind != "init":
        for p in params:
            t = summary.takes.get(p)
            if p != "self" and p not in hinted and (t is None or t.kind not in (L.TENSOR, L.SEQ)):
                f.generic_params.add((owner, name, p))
    summary.takes.update(hinted)
    summary.transposes = rw.transposes
    summary.row = row_forward_of
    if kind == "init" and cls is not None:
        func = func.with_changes(body=_DataNone(cls, func.body, rw.build_ctx).walk(func.body))
    return func, summary


def _builds(value) -> bool:
    """A value that constructs something (a layer): a call, or a choice among calls."""
    if isinstance(value, cst.Call):
        return True
    if isinstance(value, cst.IfExp):
        return _builds(value.body) or _builds(value.orelse)
    if isinstance(value, cst.BooleanOperation):
        return _builds(value.left) or _builds(value.right)
    return False


class _DataNone(FastTransformer):
    """``self.x = None`` where ``self.x`` also holds a module: nnx.data(None).

    Flax makes an attribute first assigned None static; a module assigned to
    it later (torchvision's ``self.downsample = None`` then a Sequential) then
    raises. nnx.data marks it as data from the start. An attribute first given
    another plain value (timm's ``self.downsample = downsample``, a flag, then
    a block) keeps it static (a flag that stays must not become a traced leaf);
    the module assigned later is wrapped instead, which makes it data then --
    through ``data_slot``, which wraps only a value that holds data: a
    stateless layer (a function in NNX) stays static, so ``nnx.jit`` never
    takes it for an array (timm's NF-Nets: ``self.pool = pool_fn(...)`` or
    ``nn.Identity()``).
    """

    def __init__(self, cls: ClassInfo, body, build_ctx):
        self.build_ctx = build_ctx
        self.names = {n for n, v in cls.attrs.items() if not isinstance(v, L.Tag)}
        # module attributes also assigned a plain value (neither None nor a construction)
        seen = _SelfAssigns()
        seen.walk(body)
        self.plain = {n for n in self.names if any(not _is_none_node(v) and not _builds(v) for v in seen.values.get(n, ()))}
        # slots that may hold a stateless layer (a function in NNX: timm's `self.pool = None`
        # then `nn.MaxPool2d(...)`): None stays static and what is built goes through
        # data_slot, so a function never lands in a data slot (nnx.jit would take it for
        # an array) while a layer with state still becomes data
        self.plain |= {n for n in self.names if _may_be_function(cls.attrs[n])
                       and any(_is_none_node(v) for v in seen.values.get(n, ()))}

    def leave_Assign(self, original, updated):
        if len(updated.targets) != 1:
            return updated
        t = updated.targets[0].target
        if isinstance(t, (cst.Tuple, cst.List)) and isinstance(updated.value, (cst.Tuple, cst.List)) \
                and len(t.elements) == len(updated.value.elements) \
                and not any(isinstance(e, cst.StarredElement) for e in list(t.elements) + list(updated.value.elements)):
            # self.pool_q, self.pool_k = None, None: each pair as its own assignment
            elems = [v.with_changes(value=self._value(e.value, v.value))
                     for e, v in zip(t.elements, updated.value.elements)]
            return updated.with_changes(value=updated.value.with_changes(elements=elems))
        return updated.with_changes(value=self._value(t, updated.value))

    def _value(self, t, value):
        if not (isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self"):
            return value
        if _is_none_node(value) and t.attr.value in self.names and t.attr.value not in self.plain:
            return expr("nnx.data(None)")
        if t.attr.value in self.plain and _builds(value):
            return cst.Call(func=expr(self.build_ctx.helper("data_slot")), args=[cst.Arg(value)])
        return value


def _may_be_function(ref) -> bool:
    """A module slot that may hold a layer NNX keeps as a function (a stateless row,
    a layer a factory builds)."""
    if ref is None or not hasattr(ref, "kind"):
        return False
    if ref.kind == "layer":
        return ref.rule is not None and not ref.rule.stateful
    if ref.kind == "union":
        return any(_may_be_function(e) for e in ref.elements)
    return ref.kind == "unknown" and ref.function


def _is_none_node(value) -> bool:
    return isinstance(value, cst.Name) and value.value == "None"


class _SelfAssigns(FastVisitor):
    def __init__(self):
        self.values: dict[str, list] = {}

    def visit_Assign(self, node):
        for t in node.targets:
            t = t.target
            pairs = [(t, node.value)]
            if isinstance(t, (cst.Tuple, cst.List)) and isinstance(node.value, (cst.Tuple, cst.List)) \
                    and len(t.elements) == len(node.value.elements):
                pairs = [(e.value, v.value) for e, v in zip(t.elements, node.value.elements)]
            for t, v in pairs:
                if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
                    self.values.setdefault(t.attr.value, []).append(v)


def rewrite_class(f: FileContext, info: ClassInfo, builder_methods: set[str]) -> cst.ClassDef:
    node = info.node
    bases = []
    container_base = {"sequential": "nnx.Sequential", "attrs": "nnx.Module", "dict": "OrderedModuleDict",
                      "list": "nnx.List", "named": "NamedSequential"}
    if info.container in ("dict", "named"):
        f.helpers.add(container_base[info.container])
    row_init = None
    function_base = placeholder = False
    marks = []  # the unsupported bases, marked above the class
    info.row_base = None
    for b in node.bases:
        q = f.imports.qualify(b.value)
        if q == "torch.nn.Module":
            bases.append(b.with_changes(value=expr("nnx.Module")))
        elif q in ("torch.nn.Sequential", "torch.nn.ModuleDict", "torch.nn.ModuleList") and info.container:
            bases.append(b.with_changes(value=expr(container_base[info.container])))
        elif (base_row := registry.module_base(q)) is not None:
            f.helpers.update(base_row.helpers)  # the runtime class of a library's module base
            bases.append(b.with_changes(value=expr(base_row.helpers[0])))
        elif dotted(b.value) in f.classes or dotted(b.value) in f.external:
            bases.append(b)  # translated here or by another file of the run
        elif info.row is not None and q == info.row.name and row_base.is_function_row(info.row):
            name = row_base.base_name(info.row)
            try:
                row_base.source(name)
            except Unsupported as e:
                placeholder = True
                marks.append(f"subclassing {q}: {e.message}")
                f.diag(b, "T2N004", marks[-1])
                f.todo_count += 1
                continue
            f.helpers.add(name)
            function_base = True
            bases.append(b.with_changes(value=expr(name)))
        elif info.row is not None and q == info.row.name and (made := subclass_init(f, info)) is not None:
            base, row_init = made
            bases.append(b.with_changes(value=expr(base)))
        elif info.row is not None and q == info.row.name and (base := row_super_base(f, info)) is not None:
            info.row_base = base
            bases.append(b.with_changes(value=expr(base)))
        elif q is not None and f.imports.is_torch(q):
            placeholder = True
            marks.append(f"subclassing {q} is not supported yet")
            f.diag(b, "T2N004", marks[-1])
            f.todo_count += 1
        else:
            bases.append(b)
    if placeholder:
        # an unsupported base becomes nnx.Module, once and last: the other bases may be
        # NNX modules already (transformers' ``class LlamaForQA(GenericForQA, LlamaPreTrainedModel)``),
        # and nnx.Module before one of its subclasses has no consistent MRO
        if not any(dotted(b.value) == "nnx.Module" for b in bases):
            bases.append(cst.Arg(expr("nnx.Module")))
        bases = [b.with_changes(comma=cst.MaybeSentinel.DEFAULT) for b in bases]
    body = rewrite_annotations(f, list(node.body.body))
    info.stateless = []
    if info.container in ("named", "sequential"):
        info.elements = ()  # filled again by this round's __init__ (super().__init__(*layers), add_module)
    if row_init is not None:
        body = _after_docstring(body, row_init)
    elif info.container == "sequential" and not any(isinstance(s, cst.FunctionDef) and s.name.value == "__init__"
                                                    for s in body):
        body = _after_docstring(body, SEQUENTIAL_INIT)  # torch's own: the layers handed to it
    elif not info.container and not function_base and not any(b in f.classes or b in f.external for b in info.bases) \
            and not any(isinstance(s, cst.FunctionDef) and s.name.value == "__init__" for s in body):
        # torch's inherited nn.Module.__init__(): the contract's constructor takes rngs
        body = _after_docstring(body, INIT_RNGS)
    funcs = [(i, s) for i, s in enumerate(body) if isinstance(s, cst.FunctionDef)]
    # __init__ first (it tells what the attributes hold), then the rest in order
    funcs.sort(key=lambda t: (t[1].name.value != "__init__", t[0]))
    new_body = list(body)
    # pre-register builder methods so calls to them gain rngs
    for m in builder_methods:
        info.methods[m] = None
    variables = _inherited_variables(f, info)
    values = value_functions(f)  # the run's function summaries: fixed while one class is rewritten
    for i, fn in funcs:
        name = fn.name.value
        kind = "init" if name == "__init__" else "method"
        needs = name == "__init__" or name in builder_methods
        new_fn, summary = rewrite_function(f, fn, info, needs_rngs=needs, kind=kind)
        if kind == "method":
            new_fn = read_values(new_fn, variables, values)
        if name in builder_methods:
            f.builder_returns[(info.name, name)] = summary.returns
        if name == "__init__" and function_base and not _uses_name(new_fn.body, "rngs"):
            new_fn = _optional_rngs(new_fn)  # creates no parameters: rngs is optional, like the base's
        if name == "forward":
            new_fn = new_fn.with_changes(name=cst.Name("__call__"))
            info.methods["__call__"] = summary
        elif name not in builder_methods and name != "__init__":
            info.methods[name] = summary
        new_body[i] = new_fn
    if info.row is not None and not any(isinstance(st, cst.FunctionDef) and st.name.value in ("forward", "__call__")
                                        for st in body):
        # the inherited forward: its layouts are the row's (the method itself is not written out)
        _, info.methods["__call__"] = rewrite_function(f, INHERITED_FORWARD, info, needs_rngs=False, kind="method")
    if info.container in ("named", "sequential") and info.elements and info.row is None \
            and not any(isinstance(st, cst.FunctionDef) and st.name.value == "forward" for st in body):
        # a Sequential subclass without a forward: torch runs its layers in order, so
        # callers (and files importing it) read what the chain takes and returns
        info.methods["__call__"] = _chain_summary(f, info)
    if info.container == "attrs" and not any(isinstance(st, cst.FunctionDef) and st.name.value == "forward"
                                             for st in body):
        from .context import ModuleRef
        info.elements = tuple(v for n, v in info.attrs.items() if isinstance(v, ModuleRef) and n != "*")
        new_body.append(_sequential_call(info))
    if row_init is not None or info.row_base is not None:
        new_body = _torch_names(f, info, node, new_body)
    record = stateless_record(info.stateless)
    if record is not None:
        new_body = _after_docstring(new_body, record)
    if info.uses_training:
        new_body = _add_mode_flag(f, info, new_body)
    if info.uses_rngs:
        new_body = _add_first(f, info, new_body, RNGS_ATTR, "uses_rngs")
    elif not info.needs_rngs:
        init = next((s for s in new_body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"), None)
        if init is not None and _uses_name(init.body, "rngs"):
            info.needs_rngs = True  # it hands them on after all (a random initial value)
        else:
            new_body = [_optional_rngs(s) if s is init else s for s in new_body]
    from .decorators import class_decorators

    lines = list(node.leading_lines) + [cst.EmptyLine(comment=cst.Comment(f"# TODO(torch2nnx): T2N004 {m}"))
                                        for m in marks]
    return data_slots(node.with_changes(bases=bases, body=node.body.with_changes(body=new_body),
                                        decorators=class_decorators(f, node), leading_lines=lines))


def _inherited_variables(f: FileContext, info: ClassInfo, seen=frozenset()) -> set[str]:
    """The class's parameter and buffer attributes, with those its bases in the file
    set (torchvision's ShiftedWindowAttentionV2 reads the index buffer its base registers)."""
    out = set(variable_attrs(info.node))
    for b in info.bases:
        if b in f.classes and b not in seen and b != info.name:
            out |= _inherited_variables(f, f.classes[b], seen | {info.name})
    return out


def _torch_names(f: FileContext, info: ClassInfo, node, body: list) -> list:
    """torch's names for the NNX layer's state (``weight`` -> ``scale``) as class
    attributes, for code reading them off an instance of a class it cannot see."""
    rule = info.row
    maps = rule.weights if isinstance(rule.weights, tuple) else ((rule.weights,) if rule.weights else ())
    pairs = {e.torch_name: e.nnx_name for w in maps for e in w.entries if e.torch_name != e.nnx_name
             and e.nnx_name.isidentifier()}
    pairs.update({t: n for t, n in rule.attrs if n.isidentifier() and t != n})
    defined = {t.target.value for st in node.body.body if isinstance(st, cst.SimpleStatementLine)
               for a in st.body if isinstance(a, cst.Assign) for t in a.targets if isinstance(t.target, cst.Name)}
    defined |= {st.name.value for st in node.body.body if isinstance(st, cst.FunctionDef)}
    lines = [f"{t} = TorchName({n!r})"
             for t, n in sorted(pairs.items()) if t not in defined and t not in info.attrs]
    if not lines:
        return body
    f.helpers.add("TorchName")
    stmts = [cst.parse_statement(l + "\n") for l in lines]
    stmts[0] = stmts[0].with_changes(leading_lines=[cst.EmptyLine(comment=cst.Comment(
        "# torch's names, for code reading them off an instance"))])
    doc = bool(body) and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
        and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    return body[:1] + stmts + body[1:] if doc else stmts + body


def _chain_summary(f: FileContext, info: ClassInfo) -> Summary:
    """The ``__call__`` summary of a Sequential subclass from its layers in order
    (``super().__init__(*layers)``, ``self.add_module(name, layer)``)."""
    rw = FunctionRewriter(f, info, "forward", ["self", "input"], {"self": L.OTHER_TAG})
    takes, returns = rw._fold_refs(list(info.elements))
    return Summary(params=["self", "input"], takes={"input": takes} if takes is not None else {},
                   returns=returns)


def _sequential_call(info: ClassInfo) -> cst.FunctionDef:
    """A subclass of nn.Sequential that names its layers as attributes: torch
    runs them in the order they were assigned."""
    from .context import ModuleRef

    names = [n for n, v in info.attrs.items() if isinstance(v, ModuleRef) and n != "*"]
    layers = ", ".join(f"self.{n}" for n in names) + ("," if len(names) == 1 else "")
    return cst.parse_statement(
        f"def __call__(self, x):\n    for layer in ({layers}):\n        x = layer(x)\n    return x\n")


INHERITED_FORWARD = cst.parse_statement("def forward(self, input):\n    return super().forward(input)\n")


def _uses_name(node, name: str) -> bool:
    found = []

    class V(FastVisitor):
        def visit_Name(self, n):
            if n.value == name:
                found.append(n)

    V().walk(node)
    return bool(found)


SEQUENTIAL_INIT = cst.parse_statement(
    "def __init__(self, *layers, rngs: nnx.Rngs | None = None):\n    super().__init__(*layers)\n")


def _optional_rngs(func: cst.FunctionDef) -> cst.FunctionDef:
    p = func.params
    kw = [x.with_changes(annotation=cst.Annotation(expr("nnx.Rngs | None")), default=expr("None"),
                         equal=cst.AssignEqual()) if x.name.value == "rngs" else x for x in p.kwonly_params]
    return func.with_changes(params=p.with_changes(kwonly_params=kw))


INIT_RNGS = cst.parse_statement("def __init__(self, *, rngs: nnx.Rngs):\n    pass\n")


def _after_docstring(body: list, stmt) -> list:
    doc = bool(body) and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
        and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    return body[:1] + [stmt] + body[1:] if doc else [stmt] + body


MODE_FLAG = cst.parse_statement(
    "self.deterministic = False  # = not self.training; set by model.eval()/.train()\n")


RNGS_ATTR = cst.parse_statement("self.rngs = rngs  # random numbers drawn when called (dropout)\n")


def _add_mode_flag(f: FileContext, info: ClassInfo, body: list) -> list:
    return _add_first(f, info, body, MODE_FLAG, "uses_training")


def _add_first(f: FileContext, info: ClassInfo, body: list, stmt, flag: str) -> list:
    """A statement first thing in __init__ (the flag behind ``self.training``,
    the module's own rngs)."""
    for i, s in enumerate(body):
        if isinstance(s, cst.FunctionDef) and s.name.value == "__init__":
            stmts = list(s.body.body)
            if stmts and isinstance(stmts[0], cst.SimpleStatementLine) and isinstance(stmts[0].body[0], cst.Pass):
                stmts = []
            body[i] = s.with_changes(body=s.body.with_changes(body=[stmt] + stmts))
            return body
    # no __init__ of its own: the translated base class must carry it
    base = next((f.classes[b] for b in info.bases if b in f.classes), None)
    if base is not None:
        setattr(base, flag, True)
        return body
    f.diag(info.node, "T2N004", "self.training or random numbers in a class without __init__")
    f.todo_count += 1
    return body


_PLAIN_TYPES = {"dict", "Dict", "Mapping", "MutableMapping", "OrderedDict", "str", "int", "float", "bool",
                "Callable", "type", "Type", "set", "Set", "FrozenSet", "frozenset"}


_SEQUENCE_TYPES = {"Tuple", "tuple", "List", "list", "Sequence", "Iterable"}


def _plain_annotation(node, f: FileContext) -> bool:
    """An annotation naming a type that is never a tensor (``Dict[str, Any]``,
    ``Optional[int]``, a plain class of the file such as a config dataclass)."""
    while isinstance(node, cst.Subscript) and dotted(node.value) in ("Optional", "typing.Optional") \
            and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        node = node.slice[0].slice.value
    head = node.value if isinstance(node, cst.Subscript) else node
    name = dotted(head)
    if name is None:
        return False
    from .sequence_values import dict_of_tensors

    if dict_of_tensors(node, f):
        return False  # Dict[str, Tensor]: maps, each in the layout its users need (sequence_values.py)
    if name.rpartition(".")[2] in _SEQUENCE_TYPES and isinstance(node, cst.Subscript):
        # Tuple[int, int, int] (torchvision MViT's ``thw``), List[int]: plain when every item type is
        return all(isinstance(e.slice, cst.Index) and (isinstance(e.slice.value, cst.Ellipsis)
                                                      or _plain_annotation(e.slice.value, f)) for e in node.slice)
    return name.rpartition(".")[2] in _PLAIN_TYPES or name in f.plain_classes
