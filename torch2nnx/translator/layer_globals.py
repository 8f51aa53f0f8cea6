"""Module-level names that stand for layer classes.

Real code binds layer classes to module-level names and builds layers
through them: an alias (``SqueezeExcite = SEModule``), a partial
(``_SE_LAYER = partial(SqueezeExcite, gate_layer='hard_sigmoid')``), a
registry (``_block_registry = dict(basic=BasicBlock, ...)``, read as
``_block_registry[name](**kwargs)``). Calling the name (or an item of the
registry) builds a layer: it gets ``rngs`` like the class itself, and a
function returning such a construction builds layers (its callers pass
``rngs``). Aliases and partials are exported with the kind of their class, so
other files of a run see a class.

A name bound to a torch layer (``_NORM = nn.BatchNorm2d``, a partial of one)
builds a layer too but names no class of the run: kind "torch".

Read-only; fills ``f.layer_globals``: name -> ("class" | "registry" | "torch",
the class names it may stand for).
"""

from __future__ import annotations

import libcst as cst

from ..rules import registry
from .context import FileContext

# external kinds whose construction takes rngs from a builder
_CLASS_KINDS = ("class", "container-class", "stateless-class")


def _targets(node, f: FileContext, known: dict) -> tuple[str, ...] | None:
    """The classes a module-level value stands for when called, or None."""
    if isinstance(node, cst.Name):
        v = node.value
        if v in f.classes or f.external.get(v) in _CLASS_KINDS:
            return (v,)
        if v in known and known[v][0] == "class":
            return known[v][1]
        return None
    if isinstance(node, cst.Call) and node.args and f.imports.qualify(node.func) == "functools.partial":
        first = node.args[0]
        if first.keyword is None and not first.star:
            return _targets(first.value, f, known)
    return None


def _registry(node, f: FileContext, known: dict) -> tuple[str, ...] | None:
    """A dict, list or tuple holding layer classes: the classes, or None."""
    values = []
    if isinstance(node, cst.Dict):
        values = [e.value for e in node.elements if isinstance(e, cst.DictElement)]
    elif isinstance(node, (cst.List, cst.Tuple)):
        values = [e.value for e in node.elements if not isinstance(e, cst.StarredElement)]
    elif isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "dict" \
            and "dict" not in f.imports.names and all(a.keyword is not None for a in node.args):
        values = [a.value for a in node.args]  # dict(basic=BasicBlock, ...)
    found: list[str] = []
    for v in values:
        t = _targets(v, f, known)
        if t:
            found += t
    return tuple(dict.fromkeys(found)) or None


def _torch_layer(node, f: FileContext) -> bool:
    """A torch layer class (a rule row building a layer), or a partial of one."""
    if isinstance(node, cst.Call) and node.args and f.imports.qualify(node.func) == "functools.partial":
        first = node.args[0]
        return first.keyword is None and not first.star and _torch_layer(first.value, f)
    q = f.imports.qualify(node) if isinstance(node, (cst.Name, cst.Attribute)) else None
    rule = registry.lookup(q) if q is not None else None
    return rule is not None and rule.layer


def find_layer_globals(module: cst.Module, f: FileContext) -> None:
    known: dict[str, tuple[str, tuple[str, ...]]] = {}
    bad: set[str] = set()  # bound at module level to something else too
    listed: dict[str, tuple[str, ...] | None] = {}  # name -> the names its display holds
    bindings: dict[str, int] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target, value = small.targets[0].target, small.value
            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                target, value = small.target, small.value
            else:
                continue
            if not isinstance(target, cst.Name):
                continue
            name = target.value
            bindings[name] = bindings.get(name, 0) + 1
            listed[name] = _listed_names(value)
            if name in f.classes:
                continue
            t = _targets(value, f, known)
            entry = ("class", t) if t else (("registry", r) if (r := _registry(value, f, known)) else None)
            if entry is None and _torch_layer(value, f):
                entry = ("torch", ())
            if entry is None or name in known and known[name][0] != entry[0]:
                bad.add(name)
                continue
            known[name] = entry
    defined = {s.name.value for s in module.body if isinstance(s, (cst.FunctionDef, cst.ClassDef))}
    f.layer_globals = {n: e for n, e in known.items() if n not in bad and n not in defined}
    # module-level displays of the file's functions, bound once: registries
    # find_builders decides about (a call through one hands on rngs or not)
    functions = defined - set(f.classes)
    f.function_registries = {n: fns for n, fns in listed.items()
                             if fns and bindings[n] == 1 and set(fns) <= functions}


def _listed_names(value) -> tuple[str, ...] | None:
    """The names a dict, list or tuple display holds, if it holds only names
    (``GENOTYPE_OPS = {'sep_conv_3x3': darts_dws_branch3x3, ...}``)."""
    if isinstance(value, cst.Dict):
        values = [e.value for e in value.elements if isinstance(e, cst.DictElement)]
    elif isinstance(value, (cst.List, cst.Tuple)):
        values = [e.value for e in value.elements]
    else:
        return None
    if values and all(isinstance(v, cst.Name) for v in values):
        return tuple(dict.fromkeys(v.value for v in values))
    return None


def export_kinds(f: FileContext, class_kind) -> dict[str, str]:
    """Aliases and partials of layer classes, exported like the class they stand for."""
    out = {}
    for name, (kind, targets) in f.layer_globals.items():
        if kind != "class":
            continue
        kinds = {class_kind(f.classes[t]) if t in f.classes else f.external[t] for t in targets}
        if len(kinds) == 1:
            out[name] = kinds.pop()
    return out


def constructed(callee, f: FileContext):
    """What calling ``callee`` builds when it is such a name or an item of such a
    registry: a factory ModuleRef naming the classes (None otherwise)."""
    from .context import ModuleRef

    if isinstance(callee, cst.Subscript) and isinstance(callee.value, cst.Name):
        entry, want = f.layer_globals.get(callee.value.value), "registry"
    elif isinstance(callee, cst.Name):
        entry, want = f.layer_globals.get(callee.value), "class"
    else:
        return None
    if entry is None or entry[0] != want:
        return None
    return ModuleRef("factory", elements=tuple(ModuleRef("class", cls=c) for c in entry[1]))
