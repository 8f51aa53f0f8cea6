"""A tuple of tensors in different layouts handed whole to a translated class.

timm's PiT runs its stages as ``x, cls_tokens = self.transformers((x,
cls_tokens))``: one argument, a tuple of a map (channels-last, from the patch
embedding's convolution) and class tokens (plain), handed through a Sequential
subclass (``for module in self: x = module(x)``) to each stage, which unpacks
it (``x, cls_tokens = x``) and returns the pair again. A tuple literal's tag
already keeps each item's layout (``Tag(SEQ, module=items)``); what was lost:

- the Sequential subclass, built by its callers (``SequentialTuple(*stages)``,
  no ``__init__`` of its own), knew none of its layers, so the stages were an
  unknown module, handed the tuple as it was while they read it, with no
  caller to tell them, as torch order (the map's width flattened as channels);
  the layers handed to its constructor are now what ``for module in self``
  iterates (``note_layers`` / ``built_layers``, a hint merged over the
  construction sites like a parameter's);
- callers handing such tuples were merged (and loop joins joined) as if the
  tuple had one layout, the first caller's items winning: now item by item
  (``merge`` / ``join``);
- a tuple handed to a parameter taking another item layout went in as it was:
  now each item is moved to the layout taken (``to_taken``), and a tuple going
  to code the translator cannot see goes with every item in torch order
  (``canonical``);
- a class called in a loop with its own result (the stages) is asked to return
  each item in the layout its tuple parameter takes it (``repeated_pairs``).
"""

from __future__ import annotations

import libcst as cst

from . import layout as L
from .body_support import code, expr

LAYERS = "#layers"  # the hint key: (class, "__init__", LAYERS) -> the layers its callers build it with


def items(t) -> tuple | None:
    """The item tags of a tuple tagged item by item, or None."""
    if getattr(t, "kind", None) == L.SEQ and isinstance(t.module, tuple) and t.module \
            and all(isinstance(i, L.Tag) for i in t.module):
        return t.module
    return None


def mixed(t) -> bool:
    its = items(t)
    return its is not None and t.perm is None and any(i.kind == L.TENSOR and i.channels_last for i in its)


def merge(old: L.Tag, new: L.Tag, generic: bool) -> L.Tag | None:
    """Two callers' tuples of as many items, at least one mixed: merged item by item."""
    a, b = items(old), items(new)
    if a is None or b is None or len(a) != len(b) or not (mixed(old) or mixed(new)):
        return None
    return L.Tag(L.SEQ, module=tuple(L.merge_callers(x, y, generic) for x, y in zip(a, b)))


def join(a: L.Tag, b: L.Tag) -> L.Tag | None:
    """A control-flow join of two tuples of as many items, at least one mixed: item by item."""
    x, y = items(a), items(b)
    if x is None or y is None or len(x) != len(y) or not (mixed(a) or mixed(b)):
        return None
    return L.Tag(L.SEQ, module=tuple(L.join(i, j) for i, j in zip(x, y)))


def tensor_or_items(a: L.Tag, b: L.Tag) -> L.Tag | None:
    """A tensor on one path, a tuple of tensors on the other, every item laid out as
    the tensor (pytorchcv's ``PreConvBlock``: ``return x, x_pre_activ`` under its
    ``return_preact`` flag, else ``return x``, both channels-last maps): the
    tensor's tag. Used whole it is that tensor; unpacked (``x, x_pre_activ =
    self.conv1(x)``) each name binds it (layout.element), as each item is. Before,
    the join was unknown: callers read the unpacked maps as torch order while the
    class returned them channels-last. An item that is a parameter handed back
    undecided (pytorchcv's ``DualPathSequential``: ``return x1, x2`` under its
    ``return_two`` flag, else ``return x1``, its ``x2`` what callers hand) does
    not decide the tensor: used whole it is the tensor either way. None where the
    items differ."""
    t, s = (a, b) if a.kind == L.TENSOR else (b, a)
    its = items(s)
    if t.kind != L.TENSOR or s.kind != L.SEQ or its is None \
            or not all(i.kind == L.TENSOR and i.perm == t.perm or i.kind == L.FREE and i.param for i in its) \
            or not any(i.kind == L.TENSOR for i in its):
        return None
    out = t
    for i in its:
        if i.kind == L.TENSOR:
            out = L.join(out, i)
    return out if out.kind == L.TENSOR else None


def _item_nodes(rw, node, its):
    """The items of ``node`` as expressions, each tagged: a literal's own, or
    ``node[i]`` of a name (None for anything else, evaluated once only)."""
    if isinstance(node, (cst.Tuple, cst.List)) and len(node.elements) == len(its) \
            and not any(isinstance(e, cst.StarredElement) for e in node.elements):
        return [e.value for e in node.elements]
    if isinstance(node, (cst.Name, cst.Attribute)):
        return [rw.set(expr(f"{code(node)}[{i}]"), t) for i, t in enumerate(its)]
    return None


def _rebuilt(rw, node, values, tags):
    if isinstance(node, (cst.Tuple, cst.List)):
        new = node.with_changes(elements=[e.with_changes(value=v) for e, v in zip(node.elements, values)])
    else:
        new = cst.Tuple(elements=[cst.Element(v) for v in values])
    return rw.set(new, L.Tag(L.SEQ, module=tuple(tags)))


def to_taken(rw, node, t: L.Tag, want):
    """``node``, a tuple tagged item by item, handed to a parameter taking a tuple
    of as many items: each item to the layout taken. None where that does not apply."""
    have, take = items(t), items(want)
    if have is None or take is None or len(have) != len(take) or not (mixed(t) or mixed(want)):
        return None
    if all(h == w or not (h.kind == L.TENSOR and w.kind == L.TENSOR) for h, w in zip(have, take)):
        return None
    nodes = _item_nodes(rw, node, have)
    if nodes is None:
        return None
    values, tags = [], []
    for n, h, w in zip(nodes, have, take):
        v, nt = rw.to_taken(n, h, w) if h.kind == L.TENSOR and w.kind == L.TENSOR else (n, h)
        values.append(v)
        tags.append(nt)
    if all(v is n for v, n in zip(values, nodes)):
        return None
    return _rebuilt(rw, node, values, tags)


def canonical(rw, node, t: L.Tag, why: str = ""):
    """A mixed tuple with every item in torch's order (for code the translator
    cannot see), or None where ``t`` is no mixed tuple."""
    if not mixed(t):
        return None
    nodes = _item_nodes(rw, node, items(t))
    if nodes is None:
        return None
    values = [rw.canonical(n, why) if i.kind == L.TENSOR and i.channels_last else n
              for n, i in zip(nodes, items(t))]
    return _rebuilt(rw, node, values, [L.plain() if i.kind == L.TENSOR else i for i in items(t)])


def repeated_pairs(s, params, ret):
    """(item, what the tuple parameter takes there, what is returned there) of a
    class taking one tuple and returning one of as many items, or None."""
    take = items(s.takes.get(params[0])) if len(params) == 1 else None
    got = items(ret)
    if take is None or got is None or len(take) != len(got):
        return None
    return [(i, w, r) for i, (w, r) in enumerate(zip(take, got))]


# ------------------------------------------------- layers of a Sequential subclass


def note_layers(rw, name: str, call: cst.Call) -> None:
    """``SequentialTuple(*stages)``: a Sequential subclass without an ``__init__`` of
    its own is handed its layers; recorded (merged over construction sites) for
    ``for module in self`` in its methods."""
    from .context import ModuleRef
    from .module_api import _class_container

    info = rw.f.classes.get(name)
    if info is None or _class_container(rw.f, name) != "sequential" or _own_init(rw.f, name):
        return
    refs = []
    for a in call.args:
        if a.keyword is not None:
            continue
        t = rw.tag(a.value)
        if t.kind != L.MODULE or t.module is None:
            return  # a layer it cannot see: the layers stay unknown
        m = t.module
        if a.star == "*":
            if m.kind != "list" or not m.elements:
                return
            refs += list(m.elements)
        else:
            refs.append(m)
    if not refs or not all(isinstance(r, ModuleRef) and r.kind in ("class", "layer") for r in refs):
        return
    uniq = []
    for r in refs:
        if r not in uniq:
            uniq.append(r)
    ref = uniq[0] if len(uniq) == 1 else ModuleRef("union", elements=tuple(uniq))
    rw.f.record_call(name, "__init__", LAYERS, L.Tag(L.MODULE, module=ref))


def built_layers(f, name: str):
    """What ``note_layers`` recorded for class ``name`` last round: its layers, or ()."""
    t = f.hints.get((name, "__init__", LAYERS))
    if getattr(t, "kind", None) != L.MODULE or t.module is None:
        return ()
    return tuple(t.module.elements) if t.module.kind == "union" else (t.module,)


def _own_init(f, name: str) -> bool:
    """A class of the file (or a base of it there) defines ``__init__``."""
    from .factory_args import method_owner

    return method_owner(f, name, "__init__")[1] is not None


# ------------------------------------------- an unknown module's results unpacked


def note_handed(rw, call: cst.Call) -> None:
    """``self.pool(x, cls_token)``, the module unknown here (a constructor's
    argument): under the contract its results pass through as handed, so unpacked
    into as many names (``x, cls_token = ...``) each binds the layout of the
    argument at its place (``unpacked``), not all of them the first one's (the
    class tokens taken for the map's channels-last layout). A callable handed a
    layer first (pytorchcv's ``x1, x2 = self.dual_path_scheme(module, x1, x2)``,
    a scheme running the layer on the values) returns the values, not the layer."""
    args = [a for a in call.args if a.keyword is None]
    scheme = bool(args) and not args[0].star and rw.tag(args[0].value).kind == L.MODULE
    if scheme:
        args = args[1:]
    if len(args) < 2 or any(a.star for a in args):
        return
    tags = tuple(rw.tag(a.value) for a in args)
    if any(t.kind == L.TENSOR and t.channels_last or scheme and t.kind == L.FREE for t in tags):
        rw.__dict__.setdefault("_handed_items", {})[id(call)] = (call, tags)


def unpacked(rw, target, value, vt: L.Tag) -> L.Tag:
    """What ``target = value`` unpacks, where ``value`` is such a call's result."""
    got = getattr(rw, "_handed_items", {}).get(id(value))
    if got is None or got[0] is not value or not isinstance(target, (cst.Tuple, cst.List)) \
            or len(target.elements) != len(got[1]) \
            or any(isinstance(e, cst.StarredElement) for e in target.elements):
        return vt
    return L.Tag(L.SEQ, module=got[1])


def after_their_layers(f, deps: dict) -> None:
    """The rewriting order (analyze.unit_order): a Sequential subclass handed its
    layers by its callers, with a ``forward`` of its own, comes after every class
    not depending on it, so it reads its layers' summaries of the same round (the
    stages' results, asked back in a loop, settle within the rounds)."""
    from .module_api import _class_container

    def reach(n, seen):
        for d in deps.get(n, ()):
            if d not in seen:
                seen.add(d)
                reach(d, seen)
        return seen

    for c in list(deps):
        info = f.classes.get(c)
        if info is None or _class_container(f, c) != "sequential" or _own_init(f, c) \
                or not any(isinstance(s, cst.FunctionDef) and s.name.value == "forward" for s in info.node.body.body):
            continue
        deps[c] = set(deps[c]) | {n for n in deps if n != c and n in f.classes and c not in reach(n, set())}


def sequential_class(f, ref) -> bool:
    """``ref`` is an instance of a Sequential subclass of the file: an attribute
    holding one and rebound to a slice of itself (``self.stages =
    self.stages[:n + 1]``, torch's slice is of the same class) keeps the class,
    and so its ``forward`` and what its callers hand it."""
    from .module_api import _class_container

    return getattr(ref, "kind", None) == "class" and ref.cls in f.classes \
        and _class_container(f, ref.cls) == "sequential"
