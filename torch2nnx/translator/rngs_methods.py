"""Methods known by name across a run: ``obj.init_weights()`` on a value of
unknown type.

Real code re-initialises weights through methods it calls on modules it does
not type: timm's ``named_apply(partial(_init_weights, ...), model)`` visits
every submodule and calls ``module.init_weights()`` where it has one. A
translated method that builds layers or draws random numbers takes ``*, rngs``,
so such a call must hand it ours, though nothing says which class the receiver
is. The name says it: a method named ``init_weights`` of any translated class
of the file or of the run's files it imports (transitively) taking ``rngs``
makes ``m.init_weights(...)`` on a receiver other than ``self`` a call taking
``rngs`` -- and the function making it a layer builder (it gains ``rngs`` and,
handed on as a value, gets ours bound). Every method of the file with such a
name takes ``rngs`` too (an override that draws nothing, a block whose
``init_weights`` only fills constants). A file cannot see every class of the
run, though (timm's ``LambdaLayer.reset_parameters`` draws through the module's
own rngs and takes none, unseen by byobnet), so on a receiver of unknown class
the call is ``call_with_rngs(m.init_weights, ...)``: the bound method's
signature decides at run time whether ours are handed on. A receiver of a
class of this file is called as its method takes them.
"""

from __future__ import annotations

import libcst as cst

# names no method-by-name call may claim: builtin containers' and strings' own
# methods (`cfg.update(...)`, `parts.append(...)`), torch's Module API (handled
# by module_api), the constructor and the forward pass
_EXCLUDED = frozenset(
    set(dir(dict)) | set(dir(list)) | set(dir(set)) | set(dir(str)) | set(dir(tuple)) | set(dir(object))
    | {"forward", "apply", "modules", "children", "named_modules", "named_children", "parameters",
       "named_parameters", "buffers", "named_buffers", "train", "eval", "to", "cuda", "cpu", "float",
       "half", "double", "state_dict", "load_state_dict", "register_buffer", "register_parameter",
       "add_module", "register_module", "zero_grad", "requires_grad_", "get_submodule", "type"}
)


def eligible(name: str) -> bool:
    """A method name that may be known by name across the run."""
    return not name.startswith("__") and name not in _EXCLUDED


# what f.external says a class of another file of the run is
_RUN_CLASSES = ("class", "container-class", "stateless-class")


def method_calls(node: cst.Call, f) -> str | None:
    """The method name of ``recv.name(...)`` for a receiver that is not the
    bare ``self`` (those are the class's own methods) nor an import (a module's
    function: ``nn.init.normal_``): a call known by the method's name."""
    func = node.func
    if not isinstance(func, cst.Attribute):
        return None
    recv = func.value
    if isinstance(recv, cst.Name) and recv.value == "self":
        return None
    base = recv
    while isinstance(base, cst.Attribute):
        base = base.value
    if isinstance(base, cst.Name) and base.value != "self" and (
            base.value in f.imports.names or base.value in f.imports.relative) \
            and not (recv is base and f.external.get(base.value) in _RUN_CLASSES):
        return None  # a module's function; a class of the run's classmethod stays (Model.from_name)
    name = func.attr.value
    return name if eligible(name) else None


def inherited(options, imports) -> set[str]:
    """The names of methods taking ``rngs`` in the run's files this file
    imports (each file's set already holds those of the files it imports)."""
    sib = options.siblings or {}
    out: set[str] = set()
    for q in imports.names.values():
        for mod in (q, q.rpartition(".")[0]):
            entry = sib.get(mod)
            if entry is not None and len(entry) > 4 and entry[4]:
                out |= set(entry[4])
    return out


def rngs_method_call(rw, original: cst.Call, updated: cst.Call):
    """``m.init_weights(...)`` on a receiver other than ``self``, the name one of
    a method taking rngs: ours are handed on (the module's own in a method
    that has none) -- directly to a class of this file whose method takes them,
    through ``call_with_rngs`` (the bound method's signature decides) to a
    receiver of unknown class. None when the call is something else."""
    from . import layout as L
    from ..rules import registry
    from ..rules.base import Unsupported
    from .context import UNKNOWN_MODULE

    name = method_calls(original, rw.f)
    if name is None or registry.method(name) is not None:
        return None
    if name not in rw.f.rngs_methods and not (name == "reset_parameters" and rw.build_ctx.rngs_available):
        # torch's Module API: every layer NNX provides lacks it, so where our rngs are at
        # hand (a loop over modules in __init__) it is drawn again as torch draws it
        return None
    recv = updated.func.value
    if isinstance(recv, cst.Call) and isinstance(recv.func, cst.Name) and recv.func.value == "super" \
            and name in rw.f.rngs_methods and rw.build_ctx.rngs_available:
        # super()._init_weights(module) in an override taking rngs: the base's takes them too
        return rw.set(rw.add_rngs(updated, rw.build_ctx.fill_rngs()), L.UNKNOWN_TAG)
    t = rw.tag(recv)
    run_class = isinstance(recv, cst.Name) and rw.f.external.get(recv.value) in _RUN_CLASSES
    if t.kind in (L.TENSOR, L.OTHER, L.SHAPE, L.SEQ) or (rw.is_imported(recv) and not run_class):
        return None  # a tensor, a plain value or a module's function: not a translated module
    if run_class:
        # a classmethod of another file's class taking rngs (EfficientNet.from_name)
        return rw.set(rw.add_rngs(updated, rw.build_ctx.fill_rngs()), L.Tag(L.MODULE, module=UNKNOWN_MODULE))
    takes = _class_method_takes_rngs(rw.f, t, name)
    if takes is False:
        return None  # a class of this file whose method of that name takes no rngs
    try:
        rngs = rw.build_ctx.fill_rngs()
    except Unsupported as e:
        # a plain class's method (transformers' exporters) has no rngs to hand on: the call stays, marked
        rw.todo(original, e.code, f"{name}: {e.message}")
        return rw.set(updated, L.UNKNOWN_TAG)
    if takes:
        return rw.set(rw.add_rngs(updated, rngs), L.UNKNOWN_TAG)
    # a receiver of unknown class: other classes of the run (files this one does
    # not see) may define the method without rngs, so the bound method decides
    if name == "reset_parameters":
        # torch's Module API: a layer NNX provides (nnx.BatchNorm) has no such
        # method, so the helper draws torch's initialisation of that layer again
        helper = rw.build_ctx.helper("call_reset_parameters")
        call = cst.Call(func=cst.Name(helper), args=[cst.Arg(updated.func.value)] + list(updated.args))
        return rw.set(rw.add_rngs(call, rngs), L.UNKNOWN_TAG)
    helper = rw.build_ctx.helper("call_with_rngs")
    call = cst.Call(func=cst.Name(helper), args=[cst.Arg(updated.func)] + list(updated.args))
    return rw.set(rw.add_rngs(call, rngs), L.UNKNOWN_TAG)


def _class_method_takes_rngs(f, t, name: str) -> bool | None:
    """Whether the receiver's class -- one of this file, told by its tag -- has a
    method ``name`` taking rngs; None when the class or its method is unknown."""
    from . import layout as L

    m = t.module if t.kind == L.MODULE else None
    if m is None or m.kind != "class" or m.cls not in f.classes:
        return None
    cls, seen = f.classes[m.cls], set()
    while cls is not None and cls.name not in seen:
        seen.add(cls.name)
        if name in cls.methods:
            return cls.methods[name] is None  # a layer-building method: takes rngs
        cls = next((f.classes[b] for b in cls.bases if b in f.classes), None)
    return None


def rngs_method_value(rw, original: cst.Attribute, updated: cst.Attribute):
    """``self._init_weights`` handed on as a value (``named_apply(partial(
    self._init_weights, ...), self)``, ``self.apply(self._init_weights)``), a
    method taking rngs: whoever calls it does not know, so ours are bound."""
    from . import layout as L

    name = updated.attr.value
    if id(original) in rw._call_funcs or rw.is_store(original) or rw._annotation:
        return None
    cls, seen = rw.cls, set()
    while cls is not None and cls.name not in seen:
        seen.add(cls.name)
        if name in cls.methods:
            if cls.methods[name] is not None:
                return None  # a method taking no rngs
            break
        cls = next((rw.f.classes[b] for b in cls.bases if b in rw.f.classes), None)
    else:
        return None
    try:
        rngs = rw.build_ctx.fill_rngs()
    except Exception:  # noqa: BLE001 - no rngs here (Unsupported): left as it is
        return None
    return rw.set(bind_rngs(rw, updated, rngs), L.OTHER_TAG)


def bind_rngs(rw, fn: cst.BaseExpression, rngs: str) -> cst.Call:
    """``functools.partial(fn, rngs=rngs)``, remembered so a ``partial`` of it
    is written as one (flatten_partial)."""
    new = cst.parse_expression(f"functools.partial({cst.Module([]).code_for_node(fn)}, rngs={rngs})")
    rw.bound_rngs[id(new)] = (fn, rngs)
    return new


def flatten_partial(rw, updated: cst.Call):
    """``partial(<ours: functools.partial(f, rngs=rngs)>, x=1)`` reads as
    ``partial(f, x=1, rngs=rngs)``."""
    if not updated.args or updated.args[0].star or updated.args[0].keyword is not None:
        return updated
    inner = rw.bound_rngs.get(id(updated.args[0].value))
    if inner is None:
        return updated
    fn, rngs = inner
    rest = list(updated.args[1:])
    new = cst.parse_expression(f"partial(f, rngs={rngs})")
    args = [updated.args[0].with_changes(value=fn)] + rest
    args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return updated.with_changes(args=args + [new.args[1]])
