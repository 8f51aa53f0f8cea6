"""Layer factory parameters of a constructor, typed from what its callers hand it
as well as from its default.

timm's GCViT::

    class GlobalContextVitStage(nn.Module):
        def __init__(self, dim, ..., norm_layer_cl: Type[nn.Module] = LayerNorm2d):
            self.norm = norm_layer_cl(dim)

    GlobalContextVitStage(..., norm_layer_cl=partial(get_norm_layer("layernorm"), eps=eps))

Before, ``self.norm`` was a ``LayerNorm2d`` (the default alone), which takes
(N, C, H, W): the channels-last ``nn.LayerNorm`` the only caller hands was given
a transposed map (a shape error, or a norm over the wrong axis). Now each
construction of a class of the file records what it hands each factory
parameter (a call-site hint, ``(class, "__init__", param)``, settled over
rounds like the layouts callers hand functions), and the parameter holds the
union of the default and those classes and layers; a value the analysis cannot
type (a registry lookup by name, a partial of one) makes its layer's class
unknown, so calls of it go through the runtime dispatch for such layers
(torch_order_layers.py). Arguments in a ``**kwargs`` splat are not seen: the
parameter keeps what the explicit callers tell.
"""

from __future__ import annotations

import libcst as cst

from . import layout as L
from .context import ModuleRef

_INIT = "__init__"
ANY = L.Tag(L.MODULE, module=ModuleRef("factory"))  # a factory of classes not known here


def _made(t: L.Tag):
    """The layers a factory value builds (None: not known here)."""
    m = t.module if t.kind == L.MODULE else None
    if m is None or m.kind != "factory":
        return None
    if m.rule is not None:
        return (ModuleRef("layer", rule=m.rule, layout=m.layout),)
    return m.elements or None


def _factory(elements) -> L.Tag:
    return L.Tag(L.MODULE, module=ModuleRef("factory", elements=tuple(elements))) if elements else ANY


def merged(old: L.Tag, new: L.Tag) -> L.Tag:
    """Two callers' factories: the union of what they build; unknown if either is."""
    a, b = _made(old), _made(new)
    if a is None or b is None:
        return ANY
    return _factory(list(a) + [e for e in b if e not in a])


def method_owner(f, name: str, method: str):
    """The class of the file whose ``method`` an instance of ``name`` runs (its own or
    a base's in the file), and the method; (None, None) if none there defines it."""
    seen = set()
    while name in f.classes and name not in seen:
        seen.add(name)
        info = f.classes[name]
        for st in info.node.body.body:
            if isinstance(st, cst.FunctionDef) and st.name.value == method:
                return name, st
        name = next((b for b in info.bases if b in f.classes), None)
    return None, None


def _init_owner(f, name: str):
    """The class of the file whose ``__init__`` a construction of ``name`` runs, and it."""
    return method_owner(f, name, _INIT)


def note(rw, cls: str, call: cst.Call) -> None:
    """``Stage(dim, norm_layer=...)``: what the call hands each factory parameter."""
    from .analyze import factory_params

    owner, init = _init_owner(rw.f, cls)
    if init is None:
        return
    factories = factory_params(init, rw.f)
    if not factories:
        return
    params = [p.name.value for p in init.params.params][1:]  # without self
    for i, a in enumerate(call.args):
        if a.star:
            if a.star == "*":
                break  # positions after it are not known
            continue
        name = a.keyword.value if a.keyword is not None else (params[i] if i < len(params) else None)
        if name not in factories or (isinstance(a.value, cst.Name) and a.value.value == "None"):
            continue
        t = rw.tag(a.value)
        rw.f.record_call(owner, _INIT, name, _factory(_made(t) or ()))


def param_tag(f, cls, pname: str, classes: tuple, made: L.Tag | None = None) -> L.Tag:
    """A factory parameter of ``cls.__init__`` defaulting to ``classes`` (empty: any),
    or to the factory ``made`` (a factory maker's, factory_makers.py): those and
    what the callers of the last round handed it."""
    default = made or _factory(tuple(ModuleRef("class", cls=c) for c in classes))
    hint = f.hints.get((cls.name, _INIT, pname)) if cls is not None else None
    if (not classes and made is None) or hint is None:
        return default
    return merged(default, hint)
