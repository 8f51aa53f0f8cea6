"""Factory makers: functions that return a layer factory instead of a layer.

pytorchcv's ``lambda_batchnorm2d(eps=1e-5)`` returns ``lambda num_features:
nn.BatchNorm2d(num_features, eps=eps)``; timm's ``act_with_gamma(gamma)``
returns a nested ``def _create(inplace=False)``. Calling the maker builds
nothing: it is called where no ``rngs`` exist (as a default argument value,
``normalization=lambda_batchnorm2d()``, evaluated when the ``def`` runs), and
whoever calls the factory it returns builds the layer and hands ``rngs`` as to
any factory (``normalization(num_features=c, rngs=rngs)``).

So a function whose only layer construction is inside the lambdas or nested
defs it returns takes no ``rngs``; the returned factory takes a keyword-only
``rngs`` of its own, and its body builds with those. A factory whose layers
draw nothing (``lambda: nn.ReLU()``) takes ``rngs=None``: factory callers hand
``rngs`` all the same, and a bare call still works.

Read-only: returns the original nodes.
"""

from __future__ import annotations

import libcst as cst

from . import layout as L
from .context import ModuleRef
from .fastvisit import FastVisitor


class _Returns(FastVisitor):
    """Return values of a function (not of the functions nested in it), and the
    defs nested in it, by name."""

    def __init__(self, top: cst.FunctionDef):
        self.top = top
        self.values: list = []
        self.defs: dict[str, list] = {}

    def visit_FunctionDef(self, node):
        if node is self.top:
            return True
        self.defs.setdefault(node.name.value, []).append(node)
        return False

    def visit_Lambda(self, node):
        return False

    def visit_ClassDef(self, node):
        return False

    def visit_Return(self, node):
        self.values.append(node.value)


class _Names(FastVisitor):
    def __init__(self, skip: set[int]):
        self.skip = skip
        self.names: list[str] = []

    def on_visit(self, node) -> bool:
        if id(node) in self.skip:
            return False
        return super().on_visit(node)

    def visit_Name(self, node):
        self.names.append(node.value)


def returned_factories(func: cst.FunctionDef) -> list:
    """The lambdas and nested defs ``func`` returns, when every value it returns
    is one of them (or None) and a nested def returned by name is used nowhere
    else in it; else empty."""
    r = _Returns(func)
    r.walk(func.body)
    out, names = [], []
    for v in r.values:
        if v is None or (isinstance(v, cst.Name) and v.value == "None"):
            continue
        if isinstance(v, cst.Lambda):
            out.append(v)
        elif isinstance(v, cst.Name) and len(r.defs.get(v.value, ())) == 1:
            if r.defs[v.value][0] not in out:
                out.append(r.defs[v.value][0])
            names.append(v)
        else:
            return []
    if not out:
        return []
    defs = [d for d in out if isinstance(d, cst.FunctionDef)]
    if defs:
        # a nested def called (or handed on) in the body is a local helper, not only a result
        seen = _Names({id(n) for n in [*out, *names]})
        seen.walk(func.body)
        if {d.name.value for d in defs} & set(seen.names):
            return []
    return out


# ---------------------------------------------------------------- rewriting


def begin(rw, func: cst.FunctionDef) -> None:
    """Before ``rw`` walks ``func``: the factories it returns, when it is a factory maker."""
    if rw.cls is None and func.name.value in rw.f.factory_makers:
        rw.factories = {id(n) for n in returned_factories(func)}


def enter(rw, node) -> None:
    """Entering a lambda or nested def: a factory the function returns, or a
    lambda in a parameter's default value or at module level (``ACT = lambda c:
    nn.PReLU(c)``), builds with its own ``rngs``."""
    if id(node) in rw.factories or (isinstance(node, cst.Lambda) and (rw.in_defaults or rw.func_name == "<module>")):
        rw.factory_stack.append((id(node), rw.build_ctx.rngs_available, rw.build_ctx.rngs, len(rw.returns)))
        rw.build_ctx.rngs_available = True
        rw.build_ctx.rngs = "rngs"


def leave(rw, original, updated, body):
    """Leaving it: ``updated`` taking a keyword-only ``rngs`` of its own (required
    where its body hands them to a layer; ``rngs=None`` where it builds a layer
    creating no parameters, which factory callers hand ``rngs`` all the same).
    None when ``original`` is no such factory."""
    if not rw.factory_stack or rw.factory_stack[-1][0] != id(original):
        return None
    _, rw.build_ctx.rngs_available, rw.build_ctx.rngs, returned = rw.factory_stack.pop()
    from .body_support import _passes_rngs

    if _passes_rngs(body):
        default = None
    elif _builds(rw, original, updated):
        default = "None"
    else:
        return updated
    made = updated.with_changes(params=takes_rngs(updated.params, default))
    # what it builds: the lambda's value, the def's returns (for the layouts of the layers made)
    built = [rw.tag(updated.body)] if isinstance(updated, cst.Lambda) else rw.returns[returned:]
    if isinstance(updated, cst.FunctionDef):
        del rw.returns[returned:]  # the def's own returns, not the maker's
    refs = []
    for t in built:
        if t.kind != L.MODULE or t.module is None or t.module.kind in ("unknown", "factory"):
            refs = []
            break
        refs += [t.module] if t.module not in refs else []
    tag = L.Tag(L.MODULE, module=ModuleRef("factory", elements=tuple(refs)))
    if isinstance(updated, cst.FunctionDef):
        rw.env[updated.name.value] = tag
        return made
    return rw.set(made, tag)


def handed_on(rw, original, updated):
    """Any other lambda whose value is a layer it builds (``Block(c, activation=(lambda:
    nn.ELU()))``, ``act = lambda: nn.Sigmoid()``, a list or dict of them) is a
    layer factory to whoever it is handed to, which calls it with ``rngs=`` as
    any factory (pytorchcv's ``create_activation_layer``: ``activation(rngs=rngs)``):
    it takes ``rngs=None`` when it builds only layers creating no parameters
    (one that hands ``rngs`` to a layer takes them already: closures.py). None
    when ``original`` builds no layer, or takes ``rngs`` already."""
    from .body_support import _passes_rngs

    if _passes_rngs(updated.body) or not _builds(rw, original, updated) \
            or isinstance(original.body, (cst.Name, cst.Attribute, cst.Subscript)):
        return None  # builds nothing there: a layer it reads (``lambda: self.conv``)
    made = updated.with_changes(params=takes_rngs(updated.params, "None"))
    if made.params is updated.params:
        return None
    t = rw.tag(updated.body)
    refs = () if t.module is None or t.module.kind in ("unknown", "factory") else (t.module,)
    return rw.set(made, L.Tag(L.MODULE, module=ModuleRef("factory", elements=refs)))


def _builds(rw, original, updated) -> bool:
    """A lambda whose value is a layer (``lambda: jax.nn.relu``, from ``nn.ReLU()``),
    or a factory a maker returns (the analysis found it builds)."""
    if id(original) in rw.factories:
        return True
    return isinstance(updated, cst.Lambda) and rw.tag(updated.body).kind == L.MODULE


def takes_rngs(params: cst.Parameters, default: str | None) -> cst.Parameters:
    """``params`` with a keyword-only ``rngs`` (``default`` None: required) added,
    unless it already takes ``rngs`` or ``**kwargs``."""
    if any(x.name.value == "rngs" for x in (*params.params, *params.kwonly_params, *params.posonly_params)) \
            or params.star_kwarg is not None:
        return params
    star = params.star_arg if isinstance(params.star_arg, cst.Param) else cst.ParamStar()
    rngs = cst.Param(cst.Name("rngs")) if default is None else cst.Param(
        cst.Name("rngs"), default=cst.parse_expression(default),
        equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
    return params.with_changes(star_arg=star, kwonly_params=[*params.kwonly_params, rngs])


class _FreeRngs(cst.CSTTransformer):
    """``rngs`` read in a parameter default, outside the lambdas taking their own."""

    def __init__(self):
        self.bound = 0
        self.found = 0

    def visit_Lambda(self, node):
        own = any(p.name.value == "rngs" for p in (*node.params.params, *node.params.kwonly_params))
        self.bound += own
        return True

    def leave_Lambda(self, original, updated):
        self.bound -= any(p.name.value == "rngs" for p in (*original.params.params, *original.params.kwonly_params))
        return updated

    def leave_Arg(self, original, updated):
        if not self.bound and original.keyword is not None and original.keyword.value == "rngs" \
                and isinstance(original.value, cst.Name) and original.value.value == "rngs":
            self.found += 1
            return updated.with_changes(value=cst.parse_expression("nnx.Rngs(0)"))
        return updated


def defaults_without_rngs(rw, original: cst.FunctionDef, func: cst.FunctionDef) -> cst.FunctionDef:
    """A default value is evaluated when the ``def`` runs, where no ``rngs`` exist:
    a layer built there (``norm=nn.BatchNorm2d(8)``, one instance shared by every
    call, as torch's) draws from a fixed ``nnx.Rngs(0)``, marked for review."""
    notes, swap = [], {}
    olds = (*original.params.params, *original.params.kwonly_params, *original.params.posonly_params)
    news = (*func.params.params, *func.params.kwonly_params, *func.params.posonly_params)
    for old, p in zip(olds, news):
        if p.default is None:
            continue
        v = _FreeRngs()
        new = p.default.visit(v)
        if v.found:
            message = (f"{p.name.value}'s default value builds a layer when the def runs, where there are "
                       "no rngs: it draws from nnx.Rngs(0)")
            rw.f.diag(old if rw.f.position(old) != (0, 0) else original, "T2N005", message)
            rw.f.todo_count += 1
            notes.append(f"# TODO(torch2nnx): T2N005 {message}")
            swap[id(p)] = new
    if not swap:
        return func

    def fix(ps):
        return [p.with_changes(default=swap[id(p)]) if id(p) in swap else p for p in ps]

    params = func.params.with_changes(params=fix(func.params.params), kwonly_params=fix(func.params.kwonly_params),
                                      posonly_params=fix(func.params.posonly_params))
    lines = [*func.leading_lines, *(cst.EmptyLine(comment=cst.Comment(n)) for n in notes)]
    return func.with_changes(params=params, leading_lines=lines)


def made_by_default(f, param: cst.Param):
    """``normalization=lambda_batchnorm2d()``: the factory a maker of the file
    returns, as its summary tells (None: no such default, or not known yet)."""
    d = param.default
    if not (isinstance(d, cst.Call) and isinstance(d.func, cst.Name) and d.func.value in f.factory_makers):
        return None
    summary = f.functions.get(d.func.value)
    t = summary.returns if summary is not None else None
    if t is None or t.kind != L.MODULE or t.module is None or t.module.kind != "factory" or not t.module.elements:
        return None
    return t
