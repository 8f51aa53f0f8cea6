"""torch.nn.Module's own API on translated models (issue 11).

The rows are in rules/module_methods.py; this module applies them for the
body rewriter:

- ``m.named_children()`` (and the other rows) -> ``module_named_children(m)``
  where ``m`` is known to be a module, or for any receiver where the method
  name is torch's alone;
- ``p.requires_grad = flag`` -> ``module_requires_grad_(p, flag)``;
- attributes that hold stateless torch layers (``self.relu = nn.ReLU()``,
  kept as ``jax.nn.relu``) are listed in the class's ``_stateless_layers``,
  so the helpers count them as children where torch does;
- an empty ``nn.Sequential()`` that the code fills (``add_module`` in a loop,
  ``append``) becomes a ``NamedSequential()``, which keeps torch's names;
- the helpers' table of torch names for NNX layers (``TORCH_LAYER_NAMES``)
  is generated from the rows' weight maps.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import libcst as cst

from ..rules import registry
from ..rules.base import Unsupported
from ..rules.module_methods import BY_NAME, REQUIRES_GRAD_ATTR
from . import layout as L
from .context import UNKNOWN_MODULE, ModuleRef
from . import tuple_layouts
from .fastvisit import FastVisitor
from .imports import dotted
from .layout import Tag

# helpers whose result is a list of (name, module) pairs: a loop binds the module
PAIR_HELPERS = frozenset(m.helper for m in BY_NAME.values() if m.yields == "pairs")
# calls that fill a container after it was built empty
FILLING = ("add_module", "register_module", "append", "extend", "insert")


def _code(node) -> str:
    return cst.Module([]).code_for_node(node)


def _arg(a: cst.Arg) -> str:
    if a.keyword is not None:
        return f"{a.keyword.value}={_code(a.value)}"
    return (a.star or "") + _code(a.value)


def method_call(rw, original: cst.Call, updated: cst.Call, self_receiver: bool = False):
    """``recv.<method>(...)`` for a Module-method row: the helper call, or None."""
    func = updated.func
    row = BY_NAME.get(func.attr.value)
    if row is None:
        return None
    recv = func.value
    rt = rw.tag(recv)
    # `pool.train(mode)` with torch's positional mode: never NNX's own train(**attributes)
    any_receiver = row.receivers == "any" or (
        row.name == "train" and len(updated.args) == 1 and updated.args[0].keyword is None
        and not updated.args[0].star)
    if not (self_receiver or rt.kind == L.MODULE):
        if not any_receiver or rw.is_imported(recv) or rt.kind in (L.OTHER, L.SHAPE) \
                or (rt.kind == L.TENSOR and row.name != "requires_grad_"):
            return None
    if row.native_statement and not updated.args and id(original) in rw.statement_calls:
        return rw.set(updated, rt)  # `model.eval()` as a statement: NNX's own method
    args = [_arg(a) for a in updated.args]
    if row.name == "apply" and len(updated.args) == 1:
        fn = updated.args[0].value
        partial = isinstance(fn, cst.Call) and _code(fn.func) in ("partial", "functools.partial") and fn.args \
            and not any(a.keyword is not None and a.keyword.value == "rngs" for a in fn.args)
        method = fn.args[0].value if partial else fn
        if isinstance(method, cst.Attribute) and _code(method.value) == "self" and rw.cls is not None \
                and rw.cls.methods.get(method.attr.value, False) is None:
            # a layer-building (re-initialising) method handed to apply draws from our
            # rngs: the constructor's, or the module's own in a method that has none
            # (timm's init_weights(): self.apply(partial(self._init_weights, ...)))
            try:
                rngs = rw.build_ctx.fill_rngs()
            except Unsupported:
                rngs = None
            if rngs is not None and partial:
                args = [_code(fn.with_changes(args=[*fn.args[:-1], fn.args[-1].with_changes(
                    comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                    cst.Arg(keyword=cst.Name("rngs"), value=cst.parse_expression(rngs),
                            equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                  whitespace_after=cst.SimpleWhitespace("")))]))]
            elif rngs is not None:
                args = [f"functools.partial({_code(fn)}, rngs={rngs})"]
    helper = rw.build_ctx.helper(row.helper)
    new = cst.parse_expression(f"{helper}({', '.join([_code(recv), *row.leading, *args])})")
    if row.returns_receiver:
        tag = rt if rt.kind in (L.MODULE, L.TENSOR) else L.UNKNOWN_TAG
    elif row.yields == "modules":
        tag = Tag(L.MODULE, module=ModuleRef("list", elements=children_of(rt) or (UNKNOWN_MODULE,)))
    elif row.yields == "module":
        tag = Tag(L.MODULE, module=UNKNOWN_MODULE)
    else:
        tag = L.UNKNOWN_TAG
        if row.yields == "pairs" and children_of(rt):
            rw.f.pair_children[new] = children_of(rt)
    return rw.set(new, tag)


def children_of(rt: Tag) -> tuple | None:
    """The layers of a container whose layers are known (a Sequential filled by
    add_module in a loop, a ModuleDict): what ``children()`` yields."""
    m = rt.module if rt.kind == L.MODULE else None
    if m is not None and m.kind in ("sequential", "list", "dict", "odict") and m.elements \
            and all(isinstance(e, ModuleRef) for e in m.elements):
        return tuple(m.elements)
    return None


def bind_pairs(rw, it, target) -> bool:
    """``for name, m in model.named_children():`` - ``m`` is a module."""
    if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value in PAIR_HELPERS \
            and isinstance(target, cst.Tuple) and len(target.elements) == 2:
        elems = rw.f.pair_children.get(it)
        ref = UNKNOWN_MODULE if not elems else elems[0] if len(elems) == 1 else ModuleRef("union", elements=elems)
        rw.bind_target(target.elements[0].value, L.OTHER_TAG)
        rw.bind_target(target.elements[1].value, Tag(L.MODULE, module=ref))
        return True
    return False


def requires_grad_assign(rw, updated: cst.Assign):
    """``p.requires_grad = False`` -> ``module_requires_grad_(p, False)``."""
    if len(updated.targets) != 1:
        return None
    t = updated.targets[0].target
    if not (isinstance(t, cst.Attribute) and t.attr.value == REQUIRES_GRAD_ATTR) or rw.is_imported(t.value):
        return None
    helper = rw.build_ctx.helper(BY_NAME["requires_grad_"].helper)
    return cst.Expr(cst.parse_expression(f"{helper}({_code(t.value)}, {_code(updated.value)})"))


# ------------------------------------------------------- stateless children
def may_be_function(ref) -> bool:
    """A module that NNX may hold as a plain function (a stateless layer row,
    or what a layer factory of unknown class built)."""
    if not isinstance(ref, ModuleRef):
        return False
    if ref.kind == "layer":
        return ref.rule is not None and not ref.rule.stateful
    if ref.kind == "union":
        return any(may_be_function(e) for e in ref.elements)
    return ref.kind == "unknown" and ref.function


def _candidates(rw, node):
    if isinstance(node, cst.IfExp):
        return _candidates(rw, node.body) + _candidates(rw, node.orelse)
    return [rw.tag(node)]


def note_assign(rw, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
    """Before ``self.x = value`` binds: note stateless children, and make an
    empty Sequential that is filled later a NamedSequential."""
    targets = [t.target for t in updated.targets]
    value = updated.value
    q = rw.f.imports.qualify(original.value.func) if isinstance(original.value, cst.Call) else None
    if q == "torch.nn.Sequential" and not original.value.args \
            and any(dotted(t) in filled_names(rw) for t in targets if dotted(t)):
        new = cst.parse_expression(f"{rw.build_ctx.helper('NamedSequential')}()")
        t = rw.tag(value)
        if t.kind == L.MODULE and t.module is not None and t.module.kind == "sequential":
            t = Tag(L.MODULE, module=dataclasses.replace(t.module, named=True))
        rw.set(new, t)
        updated = updated.with_changes(value=new)
    if rw.cls is not None and any(t.kind == L.MODULE and may_be_function(t.module) for t in _candidates(rw, value)):
        for t in targets:
            if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self" \
                    and t.attr.value not in rw.cls.stateless:
                rw.cls.stateless.append(t.attr.value)
    return updated


class _Filled(FastVisitor):
    def __init__(self):
        self.names: set[str] = set()

    def visit_Call(self, node):
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in FILLING and dotted(node.func.value):
            self.names.add(dotted(node.func.value))


def filled_names(rw) -> set[str]:
    """Receivers of add_module / append / ... in this function and, for
    ``self.x``, anywhere in the class."""
    if rw._filled is None:
        v = _Filled()
        if rw.root is not None:
            v.walk(rw.root)
        names = {n for n in v.names if not n.startswith("self.")}
        if rw.cls is not None:
            cv = _Filled()
            cv.walk(rw.cls.node)
            names |= {n for n in cv.names if n.startswith("self.")}
        rw._filled = names
    return rw._filled


def stateless_record(names) -> cst.BaseStatement | None:
    """The class attribute listing attributes that hold stateless torch layers."""
    if not names:
        return None
    items = ", ".join(repr(n) for n in names) + ("," if len(names) == 1 else "")
    return cst.parse_statement(f"_stateless_layers = ({items})  # torch submodules NNX holds as functions\n")


# ------------------------------------------------------- torch names of NNX layers
@lru_cache(maxsize=1)
def torch_layer_names_source() -> str:
    """``TORCH_LAYER_NAMES``: for each NNX layer class the rows build, its own
    parameters and buffers as (torch name, NNX attribute), in torch's order."""
    from ..rules.seq_ops import TIED_LINEAR_WEIGHTS

    table: dict[str, tuple] = {}

    def add(w):
        rows = tuple((e.torch_name, e.nnx_name) for e in w.entries if "." not in e.nnx_name)
        if rows:
            if table.setdefault(w.nnx_class, rows) != rows:
                raise RuntimeError(f"two weight maps for {w.nnx_class} disagree on torch names")
        for r in w.requires:
            add(r)

    for rule in registry.all_rules():
        w = rule.weights
        for m in (w if isinstance(w, (tuple, list)) else (w,) if w is not None else ()):
            add(m)
    add(TIED_LINEAR_WEIGHTS)
    lines = [f"    {k!r}: {v!r}," for k, v in sorted(table.items())]
    return ("# NNX layer -> its own parameters and buffers as (torch name, NNX attribute),\n"
            "# from the rule rows (the weights module's LAYERS say the same)\n"
            "TORCH_LAYER_NAMES = {\n" + "\n".join(lines) + "\n}\n")


@lru_cache(maxsize=1)
def torch_layer_attrs_source() -> str:
    """``TORCH_LAYER_ATTRS``: for each NNX layer class the rows build, the torch
    hyperparameters it holds under another name or form, as (torch name, NNX form);
    a form is an attribute name or an expression over ``{layer}`` (the rows' ``attrs``)."""
    table: dict[str, dict] = {}
    for rule in registry.all_rules():
        w = rule.weights
        maps = w if isinstance(w, (tuple, list)) else (w,) if w is not None else ()
        classes = {m.nnx_class for m in maps}
        if len(classes) != 1 or not rule.attrs:
            continue
        rows = table.setdefault(classes.pop(), {})
        for t, n in rule.attrs:
            if t != n and rows.setdefault(t, n) != n:
                raise RuntimeError(f"two rows disagree on {t} of an NNX layer: {rows[t]} and {n}")
    lines = [f"    {k!r}: {tuple(sorted(v.items()))!r}," for k, v in sorted(table.items()) if v]
    return ("# NNX layer -> torch hyperparameters it holds under another name or form, as\n"
            "# (torch name, NNX attribute or expression over {layer}), from the rule rows\n"
            "TORCH_LAYER_ATTRS = {\n" + "\n".join(lines) + "\n}\n")


GENERATED = {"TORCH_LAYER_NAMES": torch_layer_names_source, "TORCH_LAYER_ATTRS": torch_layer_attrs_source}


# ------------------------------------------------------- Sequential as a sequence
# torch code iterates, indexes and measures a Sequential (``for m in self``,
# ``self.features[3]``, ``len(seq)``); an nnx.Sequential keeps its layers in
# ``.layers`` (a NamedSequential, like torch's, is a sequence itself)
SEQUENCE_BUILTINS = ("enumerate", "len", "list", "tuple", "reversed", "iter", "zip")


def _class_container(f, name):
    seen = set()
    while name in f.classes and name not in seen:
        seen.add(name)
        info = f.classes[name]
        if info.container != "inherit":
            return info.container
        name = next((b for b in info.bases if b in f.classes), None)
    return None


def is_nnx_sequential(rw, node) -> bool:
    """``node`` holds an nnx.Sequential (or a subclass), whose layers are in ``.layers``."""
    if isinstance(node, cst.Name) and node.value == "self" and rw.cls is not None:
        return _class_container(rw.f, rw.cls.name) == "sequential"
    t = rw.tag(node)
    if t.kind != L.MODULE or t.module is None:
        return False
    m = t.module
    if m.kind == "sequential":
        return not m.named
    return m.kind == "class" and _class_container(rw.f, m.cls) == "sequential"


def layers_of(rw, node):
    """``node.layers`` where ``node`` is an nnx.Sequential, ``module_sequence(node)``
    where it may be one at run time (sequence_values.py), else None."""
    if not is_nnx_sequential(rw, node):
        from . import sequence_values

        return sequence_values.sequence(rw, node) if sequence_values.may_be_sequential(rw, node) else None
    return rw.set(cst.Attribute(value=node, attr=cst.Name("layers")), rw.tag(node))


def sequence_args(rw, updated: cst.Call):
    """``enumerate(seq)`` / ``len(seq)`` / ...: the nnx.Sequential's layers."""
    if not (isinstance(updated.func, cst.Name) and updated.func.value in SEQUENCE_BUILTINS):
        return updated
    args = list(updated.args)
    changed = False
    for i, a in enumerate(args):
        if a.keyword is None and not a.star:
            new = layers_of(rw, a.value)
            if new is not None:
                args[i] = a.with_changes(value=new)
                changed = True
    return updated.with_changes(args=args) if changed else updated


def subscript(rw, updated: cst.Subscript, store: bool = False):
    """``seq[i]`` -> ``seq.layers[i]``; ``seq[a:b]`` -> an nnx.Sequential of those
    layers (torch's slice is a Sequential too). None when not an nnx.Sequential."""
    if len(updated.slice) != 1 or not is_nnx_sequential(rw, updated.value):
        from . import sequence_values

        return None if store else sequence_values.item(rw, updated)
    t = rw.tag(updated.value)
    elems = t.module.elements if t.kind == L.MODULE and t.module is not None else ()
    if not elems and isinstance(updated.value, cst.Name) and updated.value.value == "self" and rw.cls is not None:
        elems = rw.cls.elements
    sl = updated.slice[0].slice
    layers = cst.Attribute(value=updated.value, attr=cst.Name("layers"))
    if isinstance(sl, cst.Slice):
        new = cst.parse_expression(f"nnx.Sequential(*{_code(updated.with_changes(value=layers))})")
        bounds = [_literal_int(b) for b in (sl.lower, sl.upper, sl.step)]
        part = ()
        if all(b is not False for b in bounds) and elems:
            part = tuple(elems[slice(*bounds)])
        if part and all(isinstance(e, ModuleRef) for e in part):
            takes, returns = rw._fold_refs(list(part))
            return rw.set(new, Tag(L.MODULE, module=ModuleRef("sequential", elements=part, takes=takes,
                                                               returns=returns)))
        return rw.set(new, Tag(L.MODULE, module=ModuleRef("sequential")))
    index = sl.value
    ref = UNKNOWN_MODULE
    try:
        i = int(_code(index))
        if -len(elems) <= i < len(elems) and isinstance(elems[i], ModuleRef):
            ref = elems[i]
    except ValueError:
        if elems and all(isinstance(e, ModuleRef) for e in elems):
            ref = elems[0] if len(elems) == 1 else ModuleRef("union", elements=tuple(elems))
    return rw.set(updated.with_changes(value=layers), Tag(L.MODULE, module=ref))


def _literal_int(node):
    """A slice bound: None when absent, the int when literal, False otherwise."""
    if node is None:
        return None
    try:
        return int(_code(node))
    except ValueError:
        return False


def self_elements(rw, it):
    """``for mod in self`` in a Sequential subclass: its layers."""
    if isinstance(it, cst.Attribute) and it.attr.value == "layers":
        it = it.value
    if isinstance(it, cst.Name) and it.value == "self" and rw.cls is not None \
            and _class_container(rw.f, rw.cls.name) in ("sequential", "named"):
        elems = tuple(e for e in rw.cls.elements if isinstance(e, ModuleRef)) \
            or tuple_layouts.built_layers(rw.f, rw.cls.name)  # handed to its constructor by its callers
        ref = UNKNOWN_MODULE if not elems else elems[0] if len(elems) == 1 else ModuleRef("union", elements=elems)
        return Tag(L.MODULE, module=ref)
    return None
