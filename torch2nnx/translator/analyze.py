"""Whole-file analysis before rewriting: which classes are modules, which
functions build layers (and so need ``rngs``), in what order to translate."""

from __future__ import annotations

import libcst as cst

from ..rules import registry
from .context import ClassInfo, FileContext, module_dict_item
from .fastvisit import FastVisitor
from .imports import dotted
from .rngs_methods import eligible, method_calls

MODULE_BASES = {"torch.nn.Module"}
_FILLS = {"zeros_", "ones_", "constant_", "eye_", "dirac_"}
SEQUENTIAL_BASES = {"torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict"}


def find_module_classes(module: cst.Module, f: FileContext) -> None:
    classes = [s for s in module.body if isinstance(s, cst.ClassDef)]
    changed = True
    while changed:
        changed = False
        for c in classes:
            if c.name.value in f.classes:
                continue
            bases = []
            is_module = False
            seq = False
            row = None
            for b in c.bases:
                q = f.imports.qualify(b.value)
                d = dotted(b.value)
                r = registry.lookup(q) if q is not None else None
                if q in MODULE_BASES:
                    is_module = True
                    bases.append(q)
                elif r is not None and r.layer and q not in SEQUENTIAL_BASES:
                    # LayerNorm2d(nn.LayerNorm): the NNX layer, torch's constructor;
                    # AvgPool2dSame(nn.AvgPool2d): a class generated from the row (row_base.py)
                    is_module = True
                    bases.append(q)
                    row = r
                elif q in SEQUENTIAL_BASES:
                    is_module = seq = True
                    bases.append(q)
                elif d in f.classes:
                    is_module = True
                    bases.append(d)
                    seq = seq or f.classes[d].sequential_base
                elif d in f.external and f.external[d] not in ("builder", "random"):
                    is_module = True  # a module class of another file of this run
                    bases.append(d)
            if is_module:
                info = ClassInfo(c.name.value, c, bases, sequential_base=seq, row=row)
                info.container = container_kind(c, bases, f)
                f.classes[c.name.value] = info
                changed = True


def container_kind(c: cst.ClassDef, bases: list[str], f: FileContext):
    """How a container subclass is translated: ``sequential`` (layers handed to
    super().__init__ -> nnx.Sequential), ``named`` (an OrderedDict of layers
    handed to it -> NamedSequential), ``attrs`` (a Sequential of named
    attributes -> a module applying them in order), ``dict`` / ``list``."""
    if "torch.nn.ModuleDict" in bases:
        return "dict"
    if "torch.nn.ModuleList" in bases:
        return "list"
    if "torch.nn.Sequential" not in bases:
        if any(f.external.get(b) == "container-class" for b in bases):
            return "inherit"
        base = next((f.classes[b] for b in bases if b in f.classes), None)
        return None if base is None else ("inherit" if base.container else None)
    if not any(isinstance(s, cst.FunctionDef) and s.name.value == "__init__" for s in c.body.body):
        return "sequential"  # torch's own constructor: built from the layers handed to it
    for s in c.body.body:
        if isinstance(s, cst.FunctionDef) and s.name.value == "__init__":
            dicts = set()  # locals bound to a dict of layers
            for stmt in s.body.body:
                if not isinstance(stmt, cst.SimpleStatementLine):
                    continue
                small = stmt.body[0]
                if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None and _is_dict(small.value, f):
                    targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                    dicts |= {t.value for t in targets if isinstance(t, cst.Name)}
                if isinstance(small, cst.Expr):
                    call = small.value
                    if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
                            and call.func.attr.value == "__init__" and call.args:
                        one = call.args[0].value if len(call.args) == 1 and not call.args[0].star else None
                        # super().__init__(OrderedDict(...)): named layers, in order
                        if one is not None and (_is_dict(one, f) or (isinstance(one, cst.Name) and one.value in dicts)):
                            return "named"
                        return "sequential"
            if _adds_modules(s):
                # super().__init__() then self.add_module(name, ...) in a loop: names
                # known at run time, kept in insertion order
                return "named"
    return "attrs"


def _adds_modules(func: cst.FunctionDef) -> bool:
    found = []

    class V(FastVisitor):
        def visit_Call(self, node):
            fn = node.func
            if isinstance(fn, cst.Attribute) and fn.attr.value == "add_module" and isinstance(fn.value, cst.Name) \
                    and fn.value.value == "self":
                found.append(node)
            elif isinstance(fn, cst.Name) and fn.value == "setattr" and node.args \
                    and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == "self":
                found.append(node)

    V().walk(func.body)
    return bool(found)


def _is_dict(node, f: FileContext) -> bool:
    if isinstance(node, cst.Dict):
        return True
    return isinstance(node, cst.Call) and f.imports.qualify(node.func) in (
        "collections.OrderedDict", "typing.OrderedDict", "builtins.dict", "dict", "OrderedDict")


class _Calls(FastVisitor):
    """Collects what a function body calls: layer rows, classes, builders."""

    def __init__(self, f: FileContext, skip: frozenset = frozenset()):
        self.f = f
        self.skip = skip  # ids of nested lambdas and defs left out (a factory maker's returned factories)
        self.names: set[str] = set()
        self.default_names: set[str] = set()  # ... called only in a parameter's default value
        self._body_names: set[str] = set()
        self._defaults = 0
        self.refs: set[str] = set()  # names used as values (a function handed on: named_apply(_init_weights))
        self.values: set[str] = set()  # ... and not called there
        self._callees: set[int] = set()
        self.self_methods: set[str] = set()
        self.self_attrs: set[str] = set()  # self.X read anywhere (a method handed on: partial(self._init_weights))
        self.methods_by_name: set[str] = set()  # m.init_weights(...) on another receiver (rngs_methods.py)
        self.layers = False
        self.stateless_layers = False  # a layer row creating no parameters (nn.ReLU)
        self.params = False

    def visit_Param(self, node):
        if node.default is not None:
            self._defaults += 1

    def leave_Param(self, node):
        if node.default is not None:
            self._defaults -= 1

    def leave_FunctionDef(self, node):
        self.default_names = self.names - self._body_names

    def visit_Name(self, node):
        self.refs.add(node.value)
        if id(node) not in self._callees:
            self.values.add(node.value)

    def visit_Attribute(self, node):
        if isinstance(node.value, cst.Name) and node.value.value == "self":
            self.self_attrs.add(node.attr.value)

    def visit_Call(self, node: cst.Call):
        self._callees.add(id(node.func))
        q = self.f.imports.qualify(node.func)
        if q is not None:
            r = registry.lookup(q)
            if r is not None and r.layer and (r.stateful or r.name == "torch.nn.Parameter"):
                self.layers = True
            elif r is not None and r.layer:
                self.stateless_layers = True
            if r is not None and r.name == "torch.nn.Parameter":
                self.params = True  # a class creating parameters keeps rngs required (the contract)
            if r is not None and _is_init_row(r) and r.name.rsplit(".", 1)[-1] not in _FILLS:
                # re-initialisation draws from rngs (nanoGPT's _init_weights handed to self.apply);
                # constant fills draw nothing (timm's zero_init_last is called with no rngs to hand)
                self.layers = True
        func = node.func
        if is_super_reset(node):
            self.layers = True  # torch's layer draws its parameters again
        by_name = method_calls(node, self.f)
        if by_name is not None:
            self.methods_by_name.add(by_name)
        if isinstance(func, cst.Name):
            self.names.add(func.value)
            if not self._defaults:
                self._body_names.add(func.value)
        elif isinstance(func, cst.Attribute) and dotted(func) in self.f.external:
            self.names.add(dotted(func))  # `layers.ConvBN(...)`: a class of a module of the run
            if not self._defaults:
                self._body_names.add(dotted(func))
        elif module_dict_item(func, self.f):
            self.layers = True  # `resnet.__dict__[name](...)`: builds a model
        elif isinstance(func, cst.Subscript) and isinstance(func.value, cst.Name) \
                and func.value.value in self.f.function_registries:
            self.names.update(self.f.function_registries[func.value.value])  # `OPS[name](c, stride)`
        elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            self.self_methods.add(func.attr.value)

    # nested defs are analysed as part of their parent (but for a factory maker's factories)
    def visit_Lambda(self, node):
        return id(node) not in self.skip

    def visit_FunctionDef(self, node):
        return id(node) not in self.skip


def _is_init_row(r) -> bool:
    """torch.nn.init's rows, and the same rows under another library's names
    (transformers.initialization.normal_: built by torch's own row)."""
    if r.name.startswith("torch.nn.init."):
        return True
    own = registry.lookup("torch.nn.init." + r.name.rsplit(".", 1)[-1])
    return own is not None and own.build is r.build


_CLASS_KINDS = ("class", "container-class", "stateless-class")


def is_super_reset(call: cst.Call) -> bool:
    """``super().reset_parameters()``: in a subclass of a torch layer, the layer's
    own re-initialisation (draws random numbers)."""
    func = call.func
    return isinstance(func, cst.Attribute) and func.attr.value == "reset_parameters" and not call.args \
        and isinstance(func.value, cst.Call) and isinstance(func.value.func, cst.Name) \
        and func.value.func.value == "super" and not func.value.args


def factory_params(func: cst.FunctionDef, f: FileContext) -> dict[str, tuple[str, ...]]:
    """Parameters annotated as layer factories: ``block: type[Union[A, B]]``
    (the translated classes named) or ``Callable[..., nn.Module]`` (none)."""
    out = {}
    p = func.params
    for param in list(p.params) + list(p.kwonly_params):
        default = param.default
        if isinstance(default, cst.Name) and default.value in f.classes:
            out[param.name.value] = (default.value,)  # inverted_residual=InvertedResidual
            continue
        if isinstance(default, cst.Name) and f.external.get(default.value, "builder") != "builder":
            # embed_layer=PatchEmbed, norm_layer=LayerNorm2d: a class of another file of the run,
            # known by the layouts it was translated with (as the file's own defaults are)
            out[param.name.value] = (default.value,) if f.external[default.value] in _CLASS_KINDS else ()
            continue
        if param.annotation is not None:
            names = factory_annotation(param.annotation.annotation, f)
            if names is not None:
                out[param.name.value] = names
                continue
        if isinstance(default, cst.Call) and isinstance(default.func, cst.Name) \
                and default.func.value in f.factory_makers:
            out[param.name.value] = ()  # norm=lambda_batchnorm2d(): the factory a maker returns
    return out


def factory_annotation(annotation: cst.BaseExpression, f: FileContext) -> tuple[str, ...] | None:
    """The classes a factory annotation names (empty: any), or None when it is not one."""
    text = cst.Module([]).code_for_node(annotation)
    bare = text.replace("Optional[", "").replace(" ", "")
    if bare.lower().startswith(("list[", "tuple[", "sequence[", "dict[")):
        return None  # a collection of factories, not one
    names = tuple(sorted(n for n in f.classes if n in _words(text)))
    if names and ("type[" in text.lower() or "Type[" in text):
        return names
    if ("Callable" in text or "type[" in text.lower()) and "Module" in text:
        return ()  # Callable[..., nn.Module], Type[nn.Module]: some layer class
    return None


class _Assigned(FastVisitor):
    """Translated classes bound to a name anywhere: ``block = MBConv``,
    ``f(block=MBConv)``, ``def __init__(self, block=MBConv)``."""

    def __init__(self, f: FileContext):
        self.f = f
        self.found: dict[str, set[str]] = {}

    def _add(self, name: str, value):
        if isinstance(value, cst.Name) and value.value in self.f.classes:
            self.found.setdefault(name, set()).add(value.value)

    def visit_Assign(self, node):
        for t in node.targets:
            if isinstance(t.target, (cst.Name, cst.Attribute)):
                self._add(t.target.value if isinstance(t.target, cst.Name) else t.target.attr.value, node.value)

    def visit_Arg(self, node):
        if node.keyword is not None:
            self._add(node.keyword.value, node.value)

    def visit_Param(self, node):
        if node.default is not None:
            self._add(node.name.value, node.default)


def find_factory_fields(module: cst.Module, f: FileContext) -> None:
    """Fields of plain classes (config dataclasses) annotated as layer
    factories: ``block: Callable[..., nn.Module]`` makes ``cnf.block(...)``
    a layer factory, of the translated classes the file binds to ``block``."""
    fields = {}
    for c in module.body:
        if not isinstance(c, cst.ClassDef) or c.name.value in f.classes:
            continue
        for st in c.body.body:
            if isinstance(st, cst.SimpleStatementLine) and isinstance(st.body[0], cst.AnnAssign) \
                    and isinstance(st.body[0].target, cst.Name):
                names = factory_annotation(st.body[0].annotation.annotation, f)
                if names is not None:
                    fields[st.body[0].target.value] = names
    if not fields:
        return
    assigned = _Assigned(f)  # a walk over the whole file: only when there are such fields
    assigned.walk(module)
    for field, names in fields.items():
        f.factory_fields[field] = names or tuple(sorted(assigned.found.get(field, ())))


def _words(text: str) -> set[str]:
    import re

    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def calls_of(node: cst.CSTNode, f: FileContext) -> _Calls:
    """What ``node`` calls; kept per node (find_builders and unit_order ask
    for the same functions)."""
    v = f.calls.get(id(node))
    if v is None:
        v = f.calls[id(node)] = _Calls(f)
        v.walk(node)
    return v


def find_builders(module: cst.Module, f: FileContext) -> dict[str, set[str]]:
    """Module-level functions and methods that build layers (to a fixpoint).

    Returns {class name: builder method names}; module-level builders go into
    ``f.builders``.
    """
    from .factory_uses import class_factories, dynamic_layer_calls

    f.class_factories = class_factories(module, f)
    f.method_names = {s.name.value for info in f.classes.values() for s in info.node.body.body
                      if isinstance(s, cst.FunctionDef)}
    funcs = {s.name.value: calls_of(s, f) for s in module.body if isinstance(s, cst.FunctionDef)}
    # factory makers (factory_makers.py): what they build outside the factories they return
    from .factory_makers import returned_factories
    made: dict[str, _Calls] = {}  # name -> what the returned factories build
    for s in module.body:
        if isinstance(s, cst.FunctionDef) and (closures := returned_factories(s)):
            funcs[s.name.value] = outer = _Calls(f, frozenset(map(id, closures)))
            outer.walk(s)
            made[s.name.value] = inner = _Calls(f)
            for node in closures:
                inner.walk(node.body)
    # functions building layers through factories known only by their use (`stages += [stage_fn(...)]`)
    by_use = {s.name.value for s in module.body if isinstance(s, cst.FunctionDef) and dynamic_layer_calls(s, f)}
    methods: dict[str, dict[str, _Calls]] = {}
    for name, info in f.classes.items():
        methods[name] = {}
        defs = [s for s in info.node.body.body if isinstance(s, cst.FunctionDef) and s.name.value != "__init__"]
        for s in defs:
            methods[name][s.name.value] = calls_of(s, f)
        # what forward runs (forward_features collecting `outs.append(norm(x))`) builds nothing
        run = _reached(methods[name], "forward")
        for s in defs:
            if s.name.value not in run and dynamic_layer_calls(s, f):
                by_use.add((name, s.name.value))
    builders: set[str] = set()
    mbuilders: dict[str, set[str]] = {c: set() for c in f.classes}

    fparams = {s.name.value: set(factory_params(s, f)) for s in module.body if isinstance(s, cst.FunctionDef)}
    for name, info in f.classes.items():
        for s in info.node.body.body:
            if isinstance(s, cst.FunctionDef):
                fparams[(name, s.name.value)] = set(factory_params(s, f))

    classes = set(f.classes)
    external = {n for n, k in f.external.items() if k != "random"}  # random functions build nothing
    # functions seeding their own stream (torch.manual_seed): callers hand them no rngs
    from .kept_data import seeds_itself
    f.seeded_builders = {s.name.value for s in module.body if isinstance(s, cst.FunctionDef) and seeds_itself(s, f)}

    # functions of other files taking rngs: handed on as values, ours are bound
    handed_on = {n for n, k in f.external.items() if k in ("builder", "random") and "." not in n}
    # methods taking rngs known by name: the run's files' and this file's (rngs_methods.py)
    by_name = set(f.rngs_methods)

    def builds(c: _Calls, cls: str | None, fname=None) -> bool:
        if ((cls, fname) if cls else fname) in by_use:
            return True
        if c.methods_by_name & by_name:
            return True  # m.init_weights() on a module of unknown class: it takes rngs
        if cls is not None and fname in by_name:
            return True  # every method of that name takes rngs, whatever its receiver's class
        if c.layers or (c.names & classes) or (c.names & (builders - f.seeded_builders)) or (c.names & external):
            return True
        if (c.names - c.default_names) & (makers - builders):
            return True  # makes a factory it may call (as a builder calling a builder did)
        if cls is not None and "cls" in c.names and cls in classes:
            return True  # a classmethod constructing its class (EfficientNet.from_name: cls(...))
        if c.refs & (builders - f.seeded_builders) or c.values & handed_on:
            return True  # hands a layer-building function on (it gets our rngs bound)
        if c.names & fparams.get((cls, fname) if cls else fname, set()):
            return True
        if cls is not None:
            own = set()
            k = cls
            while k in f.classes:
                own |= mbuilders.get(k, set())
                k = next((b for b in f.classes[k].bases if b in f.classes), None)
            if (c.self_methods | c.self_attrs) & own:
                return True  # calls one, or hands one on (it gets our rngs bound)
        return False

    makers: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, c in funcs.items():
            if name not in builders and builds(c, None, name):
                builders.add(name)
                changed = True
        for fns in f.function_registries.values():
            # a registry of functions (pytorchcv's GENOTYPE_OPS) is called item by item
            # with one set of arguments: one of them building layers, all take rngs
            if set(fns) & builders and not set(fns) <= builders:
                builders |= set(fns)
                changed = True
        for name, inner in made.items():
            if name not in makers and builds(inner, None, name):
                makers.add(name)
                changed = True
        for cls, ms in methods.items():
            for name, c in ms.items():
                if name not in mbuilders[cls] and name not in ("forward",) and (
                        builds(c, cls, name) or _overrides_a_builder(f, mbuilders, cls, name)):
                    mbuilders[cls].add(name)
                    if eligible(name):
                        by_name.add(name)
                    changed = True
    f.builders = builders
    # ... and those whose factories build only layers creating no parameters (lambda: nn.ReLU())
    f.factory_makers = (makers | {n for n, inner in made.items() if inner.stateless_layers}) - builders
    f.stateful_makers = makers - builders
    f.rngs_methods = by_name
    _stateless_classes(f, fparams, mbuilders)
    return mbuilders


def _ancestors(f: FileContext, cls: str) -> list[str]:
    out, k = [], cls
    while True:
        k = next((b for b in f.classes[k].bases if b in f.classes), None)
        if k is None or k in out:
            return out
        out.append(k)


def _overrides_a_builder(f: FileContext, mbuilders: dict, cls: str, name: str) -> bool:
    """A method overriding, or overridden by, one that builds layers takes ``rngs``
    too: the base's ``__init__`` calls ``self.define_table(rngs=rngs)`` whichever
    class's method runs (torchvision's Swin V2 overrides a builder with one
    building nothing)."""
    if any(name in mbuilders.get(a, ()) for a in _ancestors(f, cls)):
        return True
    return any(name in mbuilders.get(d, ()) and cls in _ancestors(f, d) for d in f.classes)


def _reached(methods: dict, start: str) -> set[str]:
    """The methods ``start`` calls on self, transitively (itself included)."""
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m in seen or m not in methods:
            continue
        seen.add(m)
        todo += methods[m].self_methods
    return seen | {start}


def _stateless_classes(f: FileContext, fparams, mbuilders) -> None:
    """Classes that create no parameters (activations, wrappers) need no
    ``rngs``: ``needs_rngs`` False. A class needs them when its ``__init__``
    builds layers, it has builder methods, or a base needs them; torch layer
    subclasses, containers and other files' bases are taken to need them."""
    from .factory_uses import dynamic_layer_calls

    ext = {n for n, k in f.external.items() if k != "stateless-class"}
    needs = set()
    changed = True
    while changed:
        changed = False
        for name, info in f.classes.items():
            if name in needs:
                continue
            init = next((s for s in info.node.body.body if isinstance(s, cst.FunctionDef)
                         and s.name.value == "__init__"), None)
            own = False
            if init is not None:
                c = calls_of(init, f)
                own = bool(c.layers or c.params or c.names & (needs | f.builders | ext | fparams.get((name, "__init__"), set()))
                           or (c.names - c.default_names) & f.stateful_makers
                           or c.self_methods & mbuilders.get(name, set()) or dynamic_layer_calls(init, f))
            if own or mbuilders.get(name) or info.row is not None or info.container \
                    or any(b in needs or (b not in f.classes and b not in MODULE_BASES) for b in info.bases):
                needs.add(name)
                changed = True
    for name, info in f.classes.items():
        info.needs_rngs = name in needs


def unit_order(module: cst.Module, f: FileContext) -> list:
    """Module classes and module-level functions, each after the ones it
    calls (and a class after its bases), so a caller reads its callees'
    summaries of the same round; cycles keep source order."""
    units = {}
    for s in module.body:
        if isinstance(s, cst.ClassDef) and (s.name.value in f.classes or s.name.value in f.autograd_functions):
            units[s.name.value] = s
        elif isinstance(s, cst.FunctionDef):
            units.setdefault(s.name.value, s)
    deps = {}
    for name, node in units.items():
        used = calls_of(node, f).names & set(units)
        used |= calls_of(node, f).refs & set(f.autograd_functions)  # Cls.apply(x): Cls is a unit too
        if name in f.classes:
            used |= {b for b in f.classes[name].bases if b in units}
        used.discard(name)
        deps[name] = used
    from .tuple_layouts import after_their_layers

    after_their_layers(f, deps)  # a Sequential subclass after the layers its callers hand it
    order: list = []
    state: dict[str, int] = {}

    def visit(n):
        if state.get(n):
            return  # done, or a cycle: keep source order
        state[n] = 1
        for d in sorted(deps[n]):
            visit(d)
        state[n] = 2
        order.append(units[n])

    for n in units:
        visit(n)
    return order


# values no Tensor method applies to: `_leaf_modules = set()` at the top of a
# file makes `_leaf_modules.add(m)` in a function a set's add, not Tensor.add
_PLAIN_CALLS = {"set", "dict", "list", "tuple", "frozenset", "str", "int", "float", "bool", "OrderedDict",
                "defaultdict", "collections.OrderedDict", "collections.defaultdict", "deque", "collections.deque"}
_PLAIN_LITERALS = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.Integer, cst.Float,
                   cst.List, cst.Dict, cst.Set, cst.Tuple, cst.ListComp, cst.DictComp, cst.SetComp)


def _plain_value(value) -> bool:
    if isinstance(value, _PLAIN_LITERALS):
        return True
    return isinstance(value, cst.Call) and dotted(value.func) in _PLAIN_CALLS


def find_plain_globals(module: cst.Module, f: FileContext) -> None:
    """Module-level names every top-level assignment binds to a plain Python
    value (a literal, a set/dict/list): functions reading them read no tensor."""
    plain: dict[str, bool] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
                plain[stmt.name.value] = False
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign):
                for t in small.targets:
                    if isinstance(t.target, cst.Name):
                        name = t.target.value
                        plain[name] = plain.get(name, True) and _plain_value(small.value)
            elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value is not None:
                name = small.target.value
                plain[name] = plain.get(name, True) and _plain_value(small.value)
    f.plain_globals = {n for n, ok in plain.items() if ok}
