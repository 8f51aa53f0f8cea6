"""Layer factories known by what the code does with them, not by annotations.

Real model code hands layer classes around untyped: ``norm_layer=LayerNorm``
from another package, ``block_fn: Type[nn.Module]``, ``cfg['block']``,
``stage_fn, args = _get_stage_fn(args)``. What gives them away is the use:
in a layer-building function, the result of calling them lands in a module
slot -- an attribute of ``self``, a list of layers, a container. Such a call
builds a layer, so it gets ``rngs`` like any constructor, and a function
making one builds layers.

Read-only: returns the ids of the original ``Call`` nodes.
"""

from __future__ import annotations

import libcst as cst

from ..rules import registry
from .fastvisit import FastVisitor

# methods that put a value into a container of layers
_ADDERS = {"append": 0, "insert": 1, "extend": 0, "add_module": 1, "register_module": 1}


class _Locals(FastVisitor):
    """Names a function binds (parameters, assignments, loops, with, imports)."""

    def __init__(self):
        self.names: set[str] = set()
        self.imported: set[str] = set()

    def visit_Param(self, node):
        self.names.add(node.name.value)

    def visit_Name(self, node):
        return False

    def _bind(self, target):
        if isinstance(target, cst.Name):
            self.names.add(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for e in target.elements:
                self._bind(e.value)
        elif isinstance(target, cst.StarredElement):
            self._bind(target.value)

    def visit_AssignTarget(self, node):
        self._bind(node.target)

    def visit_AnnAssign(self, node):
        self._bind(node.target)

    def visit_For(self, node):
        self._bind(node.target)

    def visit_CompFor(self, node):
        self._bind(node.target)

    def visit_AsName(self, node):
        self._bind(node.name)

    def visit_Import(self, node):
        self._imported(node.names)
        return False

    def visit_ImportFrom(self, node):
        if not isinstance(node.names, cst.ImportStar):
            self._imported(node.names)
        return False

    def _imported(self, aliases):
        for a in aliases:
            n = a.asname.name if a.asname else a.name
            if isinstance(n, cst.Name):
                self.imported.add(n.value)

    # nested functions bind their own names
    def visit_FunctionDef(self, node):
        return False

    def visit_Lambda(self, node):
        return False


def _root(node):
    """The name a callee hangs off: ``cfg`` for ``cfg['block']`` / ``cfg.block``."""
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def _is_self_attr(node) -> bool:
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
            return True
        node = node.value
    return False


class _Slots(FastVisitor):
    def __init__(self, dynamic, containers):
        self.dynamic = dynamic  # callee -> bool
        self.containers = containers  # call -> "torch" | "class" | None: a constructor taking layers
        self.found: set[int] = set()
        self.calls: list = []  # every call of the function (not of nested ones)
        self.local_calls: dict[str, list] = {}  # `conv = conv_layer(...)`: what a local may hold
        self.items: dict[str, list] = {}  # `stem[k] = ...`: what items of a local may hold
        self.slotted: list = []
        self.returned: list = []

    def visit_FunctionDef(self, node):
        return False  # a nested function is a context of its own

    def visit_Lambda(self, node):
        return False

    def visit_Assign(self, node):
        # self.norm = ..., self.blocks[k] = ... (an item of a local is data: x[1:] = y.sum(-1))
        if any(_is_self_attr(t.target) for t in node.targets):
            self.slotted.append(node.value)
        for t in node.targets:
            if isinstance(t.target, cst.Name):
                self.local_calls.setdefault(t.target.value, []).append(node.value)
            elif isinstance(t.target, cst.Subscript) and isinstance(t.target.value, cst.Name):
                # stem['conv'] = conv_layer(...): layers when `stem` turns out to hold layers
                self.items.setdefault(t.target.value.value, []).append(node.value)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            if _is_self_attr(node.target):
                self.slotted.append(node.value)
            elif isinstance(node.target, cst.Name):
                self.local_calls.setdefault(node.target.value, []).append(node.value)

    def visit_Return(self, node):
        if node.value is not None:
            self.returned.append(node.value)

    def visit_AugAssign(self, node):
        if isinstance(node.operator, cst.AddAssign):
            self.slotted.append(node.value)  # layers += [conv, norm_layer(c)]

    def visit_Call(self, node):
        self.calls.append(node)
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _ADDERS:
            i = _ADDERS[func.attr.value]
            pos = [a for a in node.args if a.keyword is None and not a.star]
            if len(pos) > i:
                self.slotted.append(pos[i].value)
        elif isinstance(func, cst.Name) and func.value == "setattr" and len(node.args) == 3:
            self.slotted.append(node.args[2].value)

    def mark(self, node, seen: set):
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, cst.Call):
            if self.dynamic(node.func):
                self.found.add(id(node))
            elif self.containers(node) == "torch":
                for a in node.args:
                    self.mark(a.value, seen)
            elif self.containers(node):
                # a class of the run (SequentialList(*[cfg['block'](...) ...])): only layers
                # handed as a sequence; its other arguments are sizes and flags
                for a in node.args:
                    if a.star == "*" or isinstance(a.value, (cst.List, cst.Tuple, cst.ListComp)):
                        self.mark(a.value, seen)
        elif isinstance(node, cst.IfExp):
            self.mark(node.body, seen)
            self.mark(node.orelse, seen)
        elif isinstance(node, cst.BooleanOperation):
            self.mark(node.left, seen)
            self.mark(node.right, seen)
        elif isinstance(node, (cst.List, cst.Tuple, cst.Set)):
            for e in node.elements:
                self.mark(e.value, seen)
        elif isinstance(node, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
            self.mark(node.elt, seen)
        elif isinstance(node, cst.DictComp):
            self.mark(node.value, seen)
        elif isinstance(node, cst.Dict):
            for e in node.elements:
                if isinstance(e, cst.DictElement):
                    self.mark(e.value, seen)
        elif isinstance(node, cst.Name):
            for v in self.local_calls.get(node.value, []) + self.items.get(node.value, []):
                self.mark(v, seen)


def function_locals(func: cst.FunctionDef) -> _Locals:
    """The names ``func`` binds (not in nested functions)."""
    loc = _Locals()
    loc.walk(func.params)
    loc.walk(func.body)
    return loc


def dynamic_layer_calls(func: cst.FunctionDef, f, loc: _Locals | None = None) -> set[int]:
    """Calls in ``func`` (not in nested functions) of a callee bound at run time
    -- a parameter, a local, an item or attribute of one -- whose result lands
    in a module slot. Kept per function node (the analysis and the rewrite ask);
    ``loc``: :func:`function_locals` of ``func`` where the caller has them."""
    cached = f.layer_calls.get(id(func))
    if cached is not None:
        return cached[1]
    loc = loc or function_locals(func)
    local = loc.names - {"self", "cls"} - loc.imported

    glob = f.layer_globals

    def dynamic(callee) -> bool:
        if isinstance(callee, cst.Name):
            # a local, or a module-level alias / partial of a layer class (layer_globals)
            # (or of a torch layer: ``_NORM = nn.BatchNorm2d``)
            return callee.value in local or glob.get(callee.value, ("",))[0] in ("class", "torch")
        if isinstance(callee, cst.Subscript):
            root = _root(callee)
            if root not in local and glob.get(root, ("",))[0] == "registry" \
                    and isinstance(callee.value, cst.Name):
                return True  # _block_registry[name](**kwargs): an item of a registry of layer classes
            return root in local
        if isinstance(callee, cst.Call):
            return True  # get_layer(name)(dim): a factory handed out by a call
        if isinstance(callee, cst.Attribute):
            # cfg.block(...) on a plain local; never a method of a list, dict, string or tensor,
            # nor one the file's classes define (features[-1].feat_channels() on a layer)
            # nor torch's Module API (`global_pool.train(self.training)` hands the module back)
            return _root(callee) in local and callee.attr.value not in _PLAIN_METHODS \
                and registry.method(callee.attr.value) is None and callee.attr.value not in f.method_names \
                and callee.attr.value not in MODULE_API_NAMES
        return False

    def containers(call) -> str | None:
        callee = call.func
        q = f.imports.qualify(callee)
        if q in _CONTAINERS or isinstance(callee, cst.Name) and callee.value in ("list", "tuple", "filter"):
            return "torch"
        if isinstance(callee, cst.Name):
            return "class" if callee.value in f.classes or callee.value in f.external else None
        return None

    slots = _Slots(dynamic, containers)
    slots.walk(func.body)
    from .analyze import factory_params

    # `module_cls = get_attn(attn_type); return module_cls(channels, **kw)`: a
    # local holding what a function of the file returning layer classes gives
    picked = {n for n, vs in slots.local_calls.items()
              if any(isinstance(v, cst.Call) and isinstance(v.func, cst.Name)
                     and v.func.value in f.class_factories for v in vs)}
    # `attn_layer: LayerType = Attention`, rebound in the body: still a factory when called
    called = picked | set(factory_params(func, f))
    slots.found |= {id(c) for c in slots.calls if isinstance(c.func, cst.Name) and c.func.value in called}
    if func.returns is not None and "Module" in cst.Module([]).code_for_node(func.returns.annotation):
        slots.slotted += slots.returned  # `def _create_attn(...) -> nn.Module: return attn_layer(...)`
    else:
        slots.slotted += _returned_layers(slots.returned, dynamic, f)
    seen: set = set()
    for v in slots.slotted:
        slots.mark(v, seen)
    f.layer_calls[id(func)] = (func, slots.found)  # the node kept alive: its id stays its own
    return slots.found


def _returned_layers(returned: list, dynamic, f) -> list:
    """Returned values that hold layers: a torch container (``return
    nn.Sequential(*layers)``, ``return nn.Sequential(stem), stride``), and, when
    one return builds a layer of a class or a registry, every return (``if
    isinstance(block, nn.Module): return block(**kw)`` / ``return
    _block_registry[block](**kw)``): a function returning layers returns layers."""
    flat = []
    for r in returned:
        flat += [e.value for e in r.elements] if isinstance(r, cst.Tuple) else [r]
    out = [r for r in flat if isinstance(r, cst.Call) and f.imports.qualify(r.func) in _NN_CONTAINERS]

    def builds(node) -> bool:
        if not isinstance(node, cst.Call):
            return False
        fn = node.func
        if isinstance(fn, cst.Name):
            return fn.value in f.classes or f.external.get(fn.value, "builder") not in ("builder", "random") \
                or f.layer_globals.get(fn.value, ("",))[0] == "class"
        return isinstance(fn, cst.Subscript) and isinstance(fn.value, cst.Name) \
            and f.layer_globals.get(fn.value.value, ("",))[0] == "registry" and dynamic(fn)

    if any(builds(r) for r in flat):
        out += flat
    return out


_NN_CONTAINERS = {"torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict"}
_CONTAINERS = {"torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict", "collections.OrderedDict"}
from ..rules.module_methods import BY_NAME as _MODULE_API

MODULE_API_NAMES = frozenset(_MODULE_API) | {"to", "cuda", "cpu", "float", "half", "double", "type"}
_PLAIN_METHODS = {"get", "pop", "copy", "format", "join", "split", "replace", "lower", "upper", "strip", "index",
                  "count", "items", "keys", "values", "setdefault", "update", "startswith", "endswith"}



def class_factories(module: cst.Module, f) -> set[str]:
    """Module-level functions returning layer classes (timm's get_attn: a
    string to SEModule, partial(EcaModule, ...), ...): calling what they
    return builds a layer."""
    classes = set(f.classes) | {n for n, k in f.external.items() if k.endswith("class")}

    def is_class(node, bound) -> bool:
        if isinstance(node, cst.Name):
            return node.value in classes or node.value in bound or node.value in f.layer_globals
        if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name):
            return f.layer_globals.get(node.value.value, ("",))[0] == "registry"  # _NORM_MAP[name]
        if isinstance(node, cst.Call) and node.args:  # partial(EcaModule, use_mlp=True)
            q = f.imports.qualify(node.func)
            return q == "functools.partial" and is_class(node.args[0].value, bound)
        return False

    out = set()
    for s in module.body:
        if not isinstance(s, cst.FunctionDef):
            continue
        slots = _Slots(lambda c: False, lambda c: False)
        slots.walk(s.body)
        bound = {n for n, vs in slots.local_calls.items() if any(is_class(v, ()) for v in vs)}
        if any(is_class(r, bound) for r in slots.returned):
            out.add(s.name.value)
    return out
