"""Subclasses of torch layers: the NNX layer as the base class, torch's
constructor arguments (``super().__init__(...)``) bound through the layer's
row, and the hyperparameter attributes the subclass's own methods read."""

from __future__ import annotations

import libcst as cst

from ..rules.base import _REQUIRED, Unsupported, parse_params
from .body_support import code, expr
from .context import ClassInfo, FileContext
from .fastvisit import FastTransformer, FastVisitor


def is_super_init(stmt) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    e = stmt.body[0]
    if not isinstance(e, cst.Expr) or not isinstance(e.value, cst.Call):
        return False
    f = e.value.func
    if not (isinstance(f, cst.Attribute) and f.attr.value == "__init__"):
        return False
    v = f.value
    if isinstance(v, cst.Call) and isinstance(v.func, cst.Name) and v.func.value == "super":
        return True
    # nn.Module.__init__(self)
    return code(v).endswith("Module")


def map_super_inits(block, fn):
    """``block`` (an IndentedBlock) with each ``super().__init__(...)`` statement
    replaced by ``fn(stmt)`` (a list, maybe empty), in nested if/try/with/for
    blocks too (not in nested functions or classes); emptied blocks get ``pass``."""
    stmts = []
    for st in block.body:
        if is_super_init(st):
            stmts += fn(st)
            continue
        if isinstance(st, (cst.If, cst.Try, cst.TryStar, cst.With, cst.For, cst.While)):
            changes = {"body": map_super_inits(st.body, fn)}
            for field in ("orelse", "finalbody"):
                sub = getattr(st, field, None)
                if isinstance(sub, cst.If):
                    wrapped = map_super_inits(cst.IndentedBlock(body=[sub]), fn).body
                    changes[field] = wrapped[0] if len(wrapped) == 1 and isinstance(wrapped[0], cst.If) else sub
                elif sub is not None:
                    changes[field] = sub.with_changes(body=map_super_inits(sub.body, fn))
            if getattr(st, "handlers", None):
                changes["handlers"] = [h.with_changes(body=map_super_inits(h.body, fn)) for h in st.handlers]
            st = st.with_changes(**changes)
        stmts.append(st)
    if not stmts:
        stmts = [cst.SimpleStatementLine([cst.Pass()])]
    return block.with_changes(body=stmts)


def _super_init_stmts(block) -> list:
    """Every ``super().__init__(...)`` statement of a function body, nested blocks included."""
    found = []
    map_super_inits(block, lambda st: found.append(st) or [st])
    return found


def subclass_init(f: FileContext, info: ClassInfo):
    """A subclass of a torch layer that only overrides forward (torchvision's
    LayerNorm2d): it subclasses the NNX layer, with torch's constructor
    signature mapped by the row. Returns (NNX base, __init__) or None."""
    from ..rules.base import _REQUIRED, Args, Unsupported, parse_params
    from .context import BuildCtx

    rule = info.row
    if any(isinstance(s, cst.FunctionDef) and s.name.value == "__init__" for s in info.node.body.body):
        return None
    spec = parse_params(rule.params)
    names = [n for n, _, k in spec if k in ("pos", "kwonly")]
    ctx = BuildCtx(f)
    ctx.rngs_available = True
    try:
        src = rule.build(Args(rule.params, {n: n for n in names if n not in ("device", "dtype")}, [], {}), ctx)
    except Unsupported:
        return None
    call = cst.parse_expression(src)
    if not isinstance(call, cst.Call):
        return None
    maps = rule.weights if isinstance(rule.weights, tuple) else ((rule.weights,) if rule.weights else ())
    for w in maps:
        if w.nnx_class == code(call.func):
            f.weight_maps[w.nnx_class] = w
    weights = {e.torch_name for w in maps for e in w.entries}
    read = _self_reads(info)
    sig = [n if d is _REQUIRED else f"{n}={d}" for n, d, k in spec if k == "pos"]
    sig += ["*"] + [n if d is _REQUIRED else f"{n}={d}" for n, d, k in spec if k == "kwonly"] + ["rngs: nnx.Rngs"]
    lines = ["super().__init__" + code(call)[len(code(call.func)):]]
    # torch's hyperparameter attributes that the class's own methods read
    lines += [f"self.{n} = {n}" for n in names if n in read and n not in weights]
    init = cst.parse_statement(f"def __init__(self, {', '.join(sig)}):\n" + "".join(f"    {l}\n" for l in lines))
    return code(call.func), init


def _self_reads(info: ClassInfo) -> set[str]:
    """Attributes of self the class's own code reads."""
    read = set()

    class Reads(FastVisitor):
        def visit_Attribute(self, node):
            if isinstance(node.value, cst.Name) and node.value.value == "self":
                read.add(node.attr.value)

    Reads().walk(info.node.body)
    return read


_FUNCTIONAL_CONVS = {f"torch.nn.functional.conv{n}d" for n in (1, 2, 3)}


def _only_padding_of_functional_convs(f: FileContext, info: ClassInfo, name: str) -> bool:
    """Every read of ``self.padding`` hands it to F.conv*d as its padding (timm's
    StdConv2d: ``F.conv2d(x, w, self.bias, self.stride, self.padding, ...)``): the
    NNX layer's pairs do there (conv_padding takes them as they are)."""
    if name != "padding":
        return False
    reads, handed = [0], [0]

    def is_self_attr(node) -> bool:
        return isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) \
            and node.value.value == "self" and node.attr.value == name

    class Reads(FastVisitor):
        def visit_Attribute(self, node):
            reads[0] += is_self_attr(node)

        def visit_Call(self, node):
            if f.imports.qualify(node.func) not in _FUNCTIONAL_CONVS:
                return
            pos = [a for a in node.args if a.keyword is None and not a.star]
            kw = [a for a in node.args if a.keyword is not None and a.keyword.value == "padding"]
            handed[0] += sum(is_self_attr(a.value) for a in (pos[4:5] + kw))

    Reads().walk(info.node.body)
    return reads[0] == handed[0]


def _super_init_call(stmt) -> cst.Call | None:
    if not is_super_init(stmt):
        return None
    call = stmt.body[0].value
    return call if isinstance(call.func.value, cst.Call) else None


def _bind_row_call(f: FileContext, rule, call: cst.Call):
    """``super().__init__(torch args)`` bound through the row and built: (Args, the NNX call)."""
    from ..rules.base import bind
    from .context import BuildCtx

    # `**kwargs` (timm hands device/dtype through it; efficientnet_pytorch's same-padding
    # conv hands bias): each of the row's parameters the call does not give is read from
    # it, with torch's default; anything else in it is checked at run time (row_super_init)
    given = [a for a in call.args if a.star != "**" or not isinstance(a.value, cst.Name)]
    if any(a.star for a in given):
        raise Unsupported("T2N002", "starred arguments to super().__init__")
    pos = [code(a.value) for a in given if a.keyword is None]
    kw = {a.keyword.value: code(a.value) for a in given if a.keyword is not None}
    splat = kwargs_splat(call)
    if splat is not None:
        bound = bind(rule.params, pos, kw)
        for n, default in splat_params(rule):
            if not bound.given(n):
                kw[n] = f"{splat}.get({n!r}, {default})"
    args = bind(rule.params, pos, kw)
    ctx = BuildCtx(f)
    ctx.rngs_available = True
    checks = []
    while True:
        try:
            src = rule.build(args, ctx)
            break
        except Unsupported as e:
            # an argument the row takes only as a constant (BatchNorm's track_running_stats
            # picks the NNX class) handed on from the subclass's own parameter: the class is
            # built for the default, and refuses another value when constructed
            default = args.defaults.get(e.param)
            if e.param is None or not args.given(e.param) or default in (None, _REQUIRED) \
                    or any(c[0] == e.param for c in checks):
                raise
            checks.append((e.param, args.given_src.pop(e.param), default))
    built = cst.parse_expression(src)
    if not isinstance(built, cst.Call):
        raise Unsupported("T2N004", f"subclassing {rule.name}: its NNX counterpart is no class")
    args.checks = checks
    return args, built


def kwargs_splat(call: cst.Call) -> str | None:
    """The name of a ``**name`` handed to super().__init__."""
    return next((a.value.value for a in call.args if a.star == "**" and isinstance(a.value, cst.Name)), None)


# torch's factory arguments: no NNX meaning, dropped where they come through a splat
_FACTORY = ("device", "dtype")


def splat_params(rule) -> list[tuple[str, str]]:
    """(name, torch default) of the row's parameters a ``**kwargs`` splat may carry."""
    from ..rules.base import parse_params

    return [(n, d) for n, d, k in parse_params(rule.params)
            if k in ("pos", "kwonly") and d is not _REQUIRED and n not in _FACTORY]


def row_super_base(f: FileContext, info: ClassInfo) -> str | None:
    """The NNX class a subclass with its own __init__ subclasses: the one the
    row builds for the arguments it hands super().__init__ (nnx.Dropout for
    ``super().__init__(p)``). None (and a diagnostic) when that is not one class."""
    init = next((s for s in info.node.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"), None)
    calls = [c for st in (_super_init_stmts(init.body) if init is not None else [])
             if (c := _super_init_call(st)) is not None]
    try:
        if not calls:
            raise Unsupported("T2N004", f"subclassing {info.row.name} without a super().__init__(...) call")
        # several calls (try/except, if/else): each is bound through the row, and must build one class
        bases = {code(_bind_row_call(f, info.row, c)[1].func) for c in calls}
        if len(bases) != 1:
            raise Unsupported("T2N004", f"super().__init__ calls building different classes: {sorted(bases)}")
    except Unsupported as e:
        f.diag(info.node, "T2N004", f"subclassing {info.row.name}: {e.message}")
        f.todo_count += 1
        return None
    return bases.pop()


def row_super_init(f: FileContext, info: ClassInfo, stmt, rw) -> list:
    """``super().__init__(torch args)`` -> ``super().__init__(NNX args)``, and
    torch's attributes the class reads (``self.p``) set from the same arguments."""
    rule = info.row
    try:
        args, built = _bind_row_call(f, rule, stmt.body[0].value)
        if code(built.func) != info.row_base:
            raise Unsupported("T2N004", f"super().__init__ builds {code(built.func)}, not {info.row_base}")
    except Unsupported as e:
        rw.todo(stmt, e.code, f"{rule.name}: {e.message}")
        return [stmt]
    maps = rule.weights if isinstance(rule.weights, tuple) else ((rule.weights,) if rule.weights else ())
    for w in maps:
        if w.nnx_class == info.row_base:
            f.weight_maps[w.nnx_class] = w
    weights = {e.torch_name for w in maps for e in w.entries}
    call = expr("super().__init__()").with_changes(args=built.args)
    out = []
    for a in stmt.body[0].value.args:
        if a.star == "**":
            # the row's parameters are read from it (_bind_row_call), torch's factory arguments
            # dropped (as in calls): anything else would be silently lost, so it raises when
            # the layer is built
            read = tuple(n for n, _ in splat_params(rule)) if isinstance(a.value, cst.Name) else ()
            out.append(cst.parse_statement(f"{_helper(f, 'factory_kwargs_only')}({code(a.value)}, "
                                           f"{rule.name!r}, {read!r})\n"))
    for n, src, default in args.checks:
        text = f"torch2nnx: {rule.name} subclass with {n} other than {default}: only the default is translated"
        out.append(cst.parse_statement(f"if {src} != {default}:\n    raise NotImplementedError({text!r})\n"))
    out.append(stmt.with_changes(body=[cst.Expr(call)]))
    read = _self_reads(info)
    spec = parse_params(rule.params)
    sources = {n: args.src(n) for n, d, k in spec if k in ("pos", "kwonly") and (args.given(n) or d is not _REQUIRED)}
    sources.update({n: src for n, src, _ in args.checks})  # checked to be the default: the caller's name reads best
    own = _nnx_attrs(info.row_base)
    for n, _, k in spec:
        if k in ("pos", "kwonly") and n in read and n not in weights \
                and (n not in dict(rule.attrs) or n in dict(rule.init_attrs)):  # torch's form is stored
            if n in own:
                if _only_padding_of_functional_convs(f, info, n):
                    continue
                # the NNX layer holds its own (different) value under that name
                rw.todo(stmt, "T2N004", f"reads self.{n}, which {info.row_base} holds in its own form")
                continue
            value = _substitute(dict(rule.init_attrs).get(n, n), sources)
            out.append(cst.parse_statement(f"self.{n} = {value}\n"))
    for n, value in rule.init_attrs:
        # state torch's constructor creates beside its parameters (BatchNorm's num_batches_tracked)
        if n in read and n not in sources and n not in own:
            if "NonPersistentBuffer(" in value:
                f.buffers.add("NonPersistentBuffer")
            out.append(cst.parse_statement(f"self.{n} = {_substitute(value, sources)}\n"))
    return out


def _substitute(src: str, sources: dict[str, str]) -> str:
    """A row's init_attrs expression over torch's parameters, with the arguments given."""
    class Sub(FastTransformer):
        def leave_Name(self, original, updated):
            if updated.value in sources:
                return expr(sources[updated.value]).with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]) \
                    if not isinstance(expr(sources[updated.value]), (cst.Name, cst.Integer, cst.Float)) else \
                    expr(sources[updated.value])
            return updated

    return code(Sub().walk(expr(src)))


def _nnx_attrs(nnx_class: str) -> set[str]:
    """The constructor parameters an NNX layer (or emitted helper class) keeps as attributes."""
    import inspect

    try:
        if nnx_class.startswith("nnx."):
            from flax import nnx

            target = getattr(nnx, nnx_class[4:])
        else:
            from ..runtime import helpers

            target = getattr(helpers, nnx_class)
        return set(inspect.signature(target.__init__).parameters) - {"self", "rngs"}
    except (ImportError, AttributeError, TypeError, ValueError):
        return set()


def _helper(f: FileContext, name: str) -> str:
    f.helpers.add(name)
    return name
