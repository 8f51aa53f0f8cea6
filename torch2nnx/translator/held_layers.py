"""Layers a constructor is handed, typed from what its callers build.

vit-pytorch's Twins-SVT::

    class Residual(nn.Module):
        def __init__(self, fn):
            self.fn = fn
        def forward(self, x):
            return self.fn(x) + x

    Residual(LocalAttention(dim, ...)), Residual(FeedForward(dim)),
    Residual(nn.Conv2d(dim, dim, 3, padding=1, groups=dim))

Before, ``self.fn`` was a module of unknown class: ``Residual`` passed its input
on as it was handed, and the classes it wraps were never told what they are
handed (no call of theirs was seen), so each decided its layout alone. A class
no caller tells takes torch's order where its own code does not show an image
(``FeedForward`` starting with a hand-written channel LayerNorm), while the
Residual around it was handed channels-last; or the Residual took torch's order
and its ``LocalAttention`` channels-last (a (1, C, 1, 1) scale multiplying a
map in the other order). Now each construction of a class of the file records
what it hands each of its constructor's parameters when that is a layer or a
translated class (a call-site hint, ``(class, "__init__", HELD + param)``,
settled over rounds like the layouts callers hand functions); the parameter
holds the union of them, so ``self.fn(x)`` calls those layers and classes
(each told what it is handed). A caller handing anything else there (a value
the analysis cannot type, a layer from a splat) makes the parameter unknown
again, as before; so does a subclass with an ``__init__`` of its own (its
``super().__init__(...)`` hands values not recorded here).
"""

from __future__ import annotations

import libcst as cst

from . import layout as L
from .context import UNKNOWN_MODULE, ModuleRef

HELD = "held:"  # no parameter name starts so
UNTYPED = L.Tag(L.MODULE, module=UNKNOWN_MODULE)


def _typed(t: L.Tag):
    """The layer or translated class(es) a value is, or None."""
    m = t.module if t.kind == L.MODULE else None
    if not isinstance(m, ModuleRef):
        return None
    if m.kind in ("class", "layer"):
        return m
    if m.kind == "union" and m.elements and all(e.kind in ("class", "layer") for e in m.elements):
        return m
    return None


def _subclassed_with_init(f, owner: str) -> bool:
    """A subclass of the file with an ``__init__`` of its own: its
    ``super().__init__(...)`` hands the base's parameters unseen."""
    return any(info.name != owner and owner in info.bases
               and any(isinstance(s, cst.FunctionDef) and s.name.value == "__init__" for s in info.node.body.body)
               for info in f.classes.values())


def note(rw, cls: str, call: cst.Call) -> None:
    """``Residual(FeedForward(dim))``: the layers the call hands its constructor."""
    from .analyze import factory_params
    from .factory_args import _init_owner

    owner, init = _init_owner(rw.f, cls)
    if init is None:
        return
    factories = factory_params(init, rw.f)
    p = init.params
    params = [q.name.value for q in p.params][1:]  # without self
    names = params + [q.name.value for q in p.kwonly_params]
    seen = set()
    for i, a in enumerate(call.args):
        if a.star:
            for name in names:  # a splat may hand any of them
                if name not in seen and name not in factories:
                    rw.f.record_call(owner, "__init__", HELD + name, UNTYPED)
            return
        name = a.keyword.value if a.keyword is not None else (params[i] if i < len(params) else None)
        if name is None or name in factories:
            continue
        seen.add(name)
        if isinstance(a.value, cst.Name) and a.value.value == "None":
            continue
        t = rw.tag(a.value)
        if t.kind != L.MODULE:
            if t.kind in (L.UNKNOWN, L.FREE):
                rw.f.record_call(owner, "__init__", HELD + name, UNTYPED)
            continue  # a number, a tensor: no layer
        ref = _typed(t)
        rw.f.record_call(owner, "__init__", HELD + name, L.Tag(L.MODULE, module=ref) if ref else UNTYPED)


def _forward(f, name: str):
    from .factory_args import method_owner

    return method_owner(f, name, "forward")[1]


def _one_input(f, ref: ModuleRef) -> bool:
    """Layers, and classes of the file whose forward takes one tensor (more may have
    defaults): a call's layout follows that argument. A class taking several (a pool
    handed a map and tokens) stays unknown, each argument passed on as it is
    (tuple_layouts.note_handed)."""
    for e in (ref.elements if ref.kind == "union" else (ref,)):
        if e.kind != "class":
            continue
        fwd = _forward(f, e.cls)
        if fwd is None:
            return False
        required = [q for q in fwd.params.params[1:] if q.default is None]
        if len(required) != 1 or isinstance(fwd.params.star_arg, cst.Param) \
                or any(q.default is None for q in fwd.params.kwonly_params):
            return False
    return True


def param_tags(f, cls, init: cst.FunctionDef, tags: dict) -> None:
    """The parameters of ``cls.__init__`` every caller of last round handed a layer."""
    if cls is None or _subclassed_with_init(f, cls.name):
        return
    for q in list(init.params.params) + list(init.params.kwonly_params):
        hint = f.hints.get((cls.name, "__init__", HELD + q.name.value))
        if hint is not None and hint.kind == L.MODULE and _typed(hint) is not None \
                and _one_input(f, hint.module):
            tags[q.name.value] = hint


def merged(old: L.Tag, new: L.Tag):
    """Two callers' layers: unknown if either is (None: not such hints)."""
    if old.kind == new.kind == L.MODULE and UNKNOWN_MODULE in (old.module, new.module):
        return UNTYPED
    return None
