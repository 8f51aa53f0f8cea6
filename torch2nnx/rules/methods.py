"""Tensor methods and properties (nnx_facts §12). The receiver is ``input``.

Each row is also reachable as ``torch.<name>(x, ...)`` where torch has the
function (see tensor_ops.py, which reuses these builds).
"""

from .base import (NOT_CONSTANT, ELEMENTWISE, OTHER, PLAIN, Canonical, Example, Layout, Rule, Unsupported, dims)

S = "input"
VIEW = Layout("view")
X4 = ("float32[2,3,4,5]",)
X2 = ("float32[3,4]",)


def m(name, params, build, layout=ELEMENTWISE, examples=(), **kw):
    return Rule(f"Tensor.{name}", "input" + (", " + params if params else ""), build, layout=layout,
                examples=examples, **kw)


def _axis_kw(a, name="dim", jname="axis"):
    return [f"{jname}={a.src(name)}"] if a.given(name) and a.src(name) != "None" else []


def _keep(a, name="keepdim"):
    v = a.value(name)
    if v is NOT_CONSTANT:
        return [f"keepdims={a.src(name)}"]  # decided at run time
    return ["keepdims=True"] if v is True else []


def reduction(fn):
    def build(a, ctx):
        parts = [a.src("input")] + _axis_kw(a) + _keep(a)
        if a.given("dtype"):
            parts.append(f"dtype={a.src('dtype')}")
        return f"{fn}({', '.join(parts)})"
    return build


def _ddof(a):
    if a.given("correction"):
        return a.src("correction")
    if a.given("unbiased"):
        v = a.value("unbiased")
        if isinstance(v, bool):
            return "1" if v else "0"
        return f"int({a.src('unbiased')})"
    return "1"


def stat(fn):
    def build(a, ctx):
        parts = [a.src("input")] + _axis_kw(a) + [f"ddof={_ddof(a)}"] + _keep(a)
        return f"{fn}({', '.join(parts)})"
    return build


def maxmin(kind):
    def build(a, ctx):
        if not a.given("dim"):
            return f"jnp.{kind}({a.src('input')})"
        d = a.value("dim")
        if not isinstance(d, int):
            # torch.max(a, b): elementwise
            if not a.given("keepdim") and not a.is_lit("dim"):
                return f"jnp.{'maximum' if kind == 'max' else 'minimum'}({a.src('input')}, {a.src('dim')})"
        parts = [a.src("input"), a.src("dim")] + _keep(a)
        return f"{ctx.helper(kind + '_with_indices')}({', '.join(parts)})"
    return build


def _maxmin_layout():
    return dims("dim", keepdim="keepdim", reduces=True)


def fn1(fn):
    return lambda a, ctx: f"{fn}({a.src('input')})"


def _addcmul(a, ctx):
    """input + value * tensor1 * tensor2."""
    t = f"{a.src('tensor1')} * {a.src('tensor2')}"
    if not a.given("value") or a.src("value") in ("1", "1.0"):
        return f"({a.src('input')} + {t})"
    return f"({a.src('input')} + {a.src('value')} * {t})"


def _unique(a, ctx):
    """torch.unique: sorted unique values (jnp.unique sorts too); the result's size
    depends on the values, so it runs on concrete arrays (constructor code), not under jit."""
    if a.given("sorted") and a.value("sorted") is not True:
        raise Unsupported("T2N002", "unique(sorted=False): torch's order of unsorted unique values")
    kw = [f"{k}={a.src(k)}" for k in ("return_inverse", "return_counts") if a.given(k)]
    kw += _axis_kw(a)
    return f"jnp.unique({', '.join([a.src('input')] + kw)})"


def _view(a, ctx):
    if a.star and len(a.star) == 1 and a.star[0].startswith(("jnp.", "torch.")):
        raise Unsupported("T2N002", "view(dtype) reinterprets bits; use lax.bitcast_convert_type")
    return f"{a.src('input')}.reshape({', '.join(a.star)})"


def _flatten_m(a, ctx):
    start, end = a.value("start_dim"), a.value("end_dim")  # not literals: the helper, at run time
    x = a.src("input")
    if ctx.perm is not None:
        # a channels-last input (an "aware" row). Merging exactly the spatial dims (ViT's
        # conv(x).flatten(2)) keeps channels-last: (N, *S, C) -> (N, S, C), no transpose.
        rank = len(ctx.perm)
        if rank >= 4 and ctx.perm == (0,) + tuple(range(2, rank)) + (1,) and isinstance(start, int) \
                and isinstance(end, int) and start % rank == 2 and end % rank == rank - 1:
            ctx.result_cl_rank = 3
            if not x.isidentifier():  # an expression (`self.proj(x).flatten(2)`) is run once
                return f"jax.lax.collapse({x}, 1, {rank - 1})"
            return f"{x}.reshape({x}.shape[0], -1, {x}.shape[-1])"
        if not ctx.one:  # spatial dims of size 1 (after global pooling) need no transpose
            raise Canonical()
        ctx.result_plain = True
    lits = isinstance(start, int) and isinstance(end, int)
    if lits and start == 0 and end == -1:
        return f"{x}.reshape(-1)"
    if lits and start == 1 and end == -1 and x.isidentifier():
        return f"{x}.reshape({x}.shape[0], -1)"
    # the helper's own start_dim default is nn.Flatten's 1, Tensor.flatten's is 0
    kws = [f"start_dim={a.src('start_dim')}"]
    if a.given("end_dim"):
        kws.append(f"end_dim={a.src('end_dim')}")
    return f"{ctx.helper('flatten')}({', '.join([x] + kws)})"


def _permute(a, ctx):
    if a.given("__identity__"):
        return a.src("input")
    order = a.star[0] if len(a.star) == 1 else "(" + ", ".join(a.star) + ")"
    if a.given("dims"):
        order = a.src("dims")
    return f"jnp.transpose({a.src('input')}, {order})"


def _swap(a, ctx):
    if a.given("__identity__"):
        return a.src("input")
    return f"jnp.swapaxes({a.src('input')}, {a.src('dim0')}, {a.src('dim1')})"


def _size(a, ctx):
    if a.given("dim"):
        return f"{a.src('input')}.shape[{a.src('dim')}]"
    return f"{a.src('input')}.shape"


def _astype(dtype):
    return lambda a, ctx: f"{a.src('input')}.astype({dtype})"


def _type(a, ctx):
    """x.type(dtype) casts; x.type() (the type's name) and type names as strings are not translated."""
    if not a.given("dtype") or isinstance(a.value("dtype"), str):
        raise Unsupported("T2N002", "Tensor.type without a dtype (a type name) is not translated")
    return f"{a.src('input')}.astype({a.src('dtype')})"


def _to(a, ctx):
    # .to(device) is dropped; .to(dtype) / .to(other) casts
    if a.given("dtype") and a.src("dtype") != "None":
        return f"{a.src('input')}.astype({a.src('dtype')})"
    for s in a.star:
        # a dtype by value or by name (x.to(y.dtype), x.to(dtype)); anything else is a device
        if s.startswith("jnp.") or s.startswith("jax.numpy") or s == "dtype" or s.endswith(".dtype"):
            return f"{a.src('input')}.astype({s})"
    if a.given("other"):
        return f"{a.src('input')}.astype({a.src('other')}.dtype)"
    return a.src("input")


def _squeeze(a, ctx):
    if not a.given("dim"):
        return f"jnp.squeeze({a.src('input')})"
    return f"{ctx.helper('squeeze')}({a.src('input')}, {a.src('dim')})"


def _unsqueeze(a, ctx):
    return f"jnp.expand_dims({a.src('input')}, {a.src('dim')})"


def _repeat(a, ctx):
    return f"jnp.tile({a.src('input')}, {a.shape()})"


def _tile(a, ctx):
    """x.tile(dims) / x.tile(*dims) / torch.tile(x, dims)."""
    return f"jnp.tile({a.src('input')}, {a.shape() if a.star else a.src('dims')})"


def _expand(a, ctx):
    sizes = a.star
    if len(sizes) == 1 and not sizes[0].startswith(("(", "[")) and a.lit_src(sizes[0]) is None:
        return f"{ctx.helper('expand')}({a.src('input')}, {sizes[0]})"
    vals = [a.lit_src(s) for s in sizes]
    if all(isinstance(v, int) and v != -1 for v in vals) or (len(vals) == 1 and isinstance(vals[0], tuple) and -1 not in vals[0]):
        return f"jnp.broadcast_to({a.src('input')}, {a.shape()})"
    return f"{ctx.helper('expand')}({a.src('input')}, {', '.join(sizes)})"


def _masked_fill(a, ctx):
    return f"jnp.where({a.src('mask')}, {a.src('value')}, {a.src('input')})"


def _clamp(a, ctx):
    parts = [a.src("input")]
    if a.given("min") and a.src("min") != "None":
        parts.append(f"min={a.src('min')}")
    if a.given("max") and a.src("max") != "None":
        parts.append(f"max={a.src('max')}")
    return f"jnp.clip({', '.join(parts)})"


def binop(op):
    def build(a, ctx):
        other = a.src("other")
        if a.given("alpha") and a.src("alpha") != "1":
            other = f"{a.src('alpha')} * {other}"
        if a.given("rounding_mode"):
            mode = a.value("rounding_mode")
            if mode is NOT_CONSTANT:
                return f"{ctx.helper('div_rounding')}({a.src('input')}, {other}, {a.src('rounding_mode')})"
            if mode == "floor":
                return f"jnp.floor_divide({a.src('input')}, {other})"
            if mode == "trunc":
                return f"jnp.trunc({a.src('input')} / {other})"
        return f"({a.src('input')} {op} {other})"
    return build


def _chunk(a, ctx):
    return f"{ctx.helper('chunk')}({a.src('input')}, {a.src('chunks')}, axis={a.src('dim')})"


def _tensor_split(a, ctx):
    """torch.tensor_split: split points or a number of (nearly equal) sections, as
    numpy's array_split takes them (the first ``size % n`` sections one longer)."""
    given = [n for n in ("indices_or_sections", "indices", "sections") if a.given(n)]
    if len(given) != 1:
        raise Unsupported("T2N002", "tensor_split needs exactly one of indices_or_sections, indices, sections")
    return f"tuple(jnp.array_split({a.src('input')}, {a.src(given[0])}, axis={a.src('dim')}))"


def _unfold(a, ctx):
    """windows along a dim in torch's order: a channels-last input is brought to
    torch's order first (the row is ``plain``), as the windows' axis order is torch's."""
    return f"{ctx.helper('unfold_windows')}({a.src('input')}, {a.src('dimension')}, {a.src('size')}, {a.src('step')})"


def _split(a, ctx):
    return f"{ctx.helper('split')}({a.src('input')}, {a.src('split_size')}, axis={a.src('dim')})"


def _topk(a, ctx):
    parts = [a.src("input"), a.src("k"), f"axis={a.src('dim')}"]
    if a.given("largest"):
        parts.append(f"largest={a.src('largest')}")
    return f"{ctx.helper('topk')}({', '.join(parts)})"


def _sort(a, ctx):
    x, d = a.src("input"), a.src("dim")
    desc = a.value("descending")
    if desc is NOT_CONSTANT:
        return f"{ctx.helper('sort_values')}({x}, {d}, {a.src('descending')})"
    if desc is True:
        return f"(-jnp.sort(-{x}, axis={d}), jnp.argsort(-{x}, axis={d}, stable=True))"
    return f"(jnp.sort({x}, axis={d}), jnp.argsort({x}, axis={d}, stable=True))"


def _norm(a, ctx):
    p = a.value("p")
    if p is NOT_CONSTANT:
        # torch's norm with a number p is a vector norm over dim (all dims by default)
        parts = [a.src("input"), a.src("p")] + _axis_kw(a) + _keep(a)
        return f"{ctx.helper('tensor_norm')}({', '.join(parts)})"
    if p in ("fro", 2, 2.0) and not a.given("dim"):
        return f"jnp.linalg.norm({a.src('input')}.reshape(-1))"
    parts = [a.src("input")]
    if p not in ("fro", 2, 2.0):
        parts.append(f"ord={a.src('p')}")
    parts += _axis_kw(a) + _keep(a)
    return f"jnp.linalg.norm({', '.join(parts)})"


def _new(fn):
    def build(a, ctx):
        dtype = a.src("dtype") if a.given("dtype") else f"{a.src('input')}.dtype"
        if fn == "full":
            return f"jnp.full({a.src('size')}, {a.src('fill_value')}, dtype={dtype})"
        return f"jnp.{fn}({a.shape()}, dtype={dtype})"
    return build


def _bernoulli_(a, ctx):
    if a.given("generator"):
        raise Unsupported("T2N005", "a torch.Generator has no NNX equivalent; randomness comes from nnx.Rngs")
    x = a.src("input")
    # drawn from the dropout stream, as stochastic depth and dropout are
    return f"jax.random.bernoulli({ctx.module_rngs()}.dropout(), {a.src('p')}, {x}.shape).astype({x}.dtype)"


def _diff(a, ctx):
    parts = [a.src("input"), a.src("n"), f"axis={a.src('dim')}"]
    for edge in ("prepend", "append"):
        if a.given(edge):
            parts.append(f"{edge}={a.src(edge)}")
    return f"jnp.diff({', '.join(parts)})"


def inplace(build):
    """x.add_(y): the same op, its value written into the receiver (inplace_set keeps a
    Variable's identity); as a statement the engine rebinds the receiver, x = ..."""
    def run(a, ctx):
        return f"{ctx.helper('inplace_set')}({a.src('input')}, {build(a, ctx)})"
    return run


def _no_generator(a):
    if a.given("generator") and a.src("generator") != "None":
        raise Unsupported("T2N005", "a torch.Generator has no NNX equivalent; randomness comes from nnx.Rngs")


def _uniform_(a, ctx):
    _no_generator(a)
    x = a.src("input")
    return (f"jax.random.uniform({ctx.fill_rngs()}.params(), {x}.shape, {x}.dtype, "
            f"minval={a.src('from')}, maxval={a.src('to')})")


def _normal_(a, ctx):
    _no_generator(a)
    x = a.src("input")
    return f"{a.src('mean')} + {a.src('std')} * jax.random.normal({ctx.fill_rngs()}.params(), {x}.shape, {x}.dtype)"


def _copy_(a, ctx):
    return a.src("src")


def _gather(a, ctx):
    return f"jnp.take_along_axis({a.src('input')}, {a.src('index')}, axis={a.src('dim')})"


def _index_select(a, ctx):
    return f"jnp.take({a.src('input')}, {a.src('index')}, axis={a.src('dim')})"


def _roll(a, ctx):
    # torch.roll without dims rolls the flattened tensor and restores the shape, as jnp.roll does
    axis = f", axis={a.src('dims')}" if a.given("dims") and a.src("dims") != "None" else ""
    return f"jnp.roll({a.src('input')}, {a.src('shifts')}{axis})"


def _flip(a, ctx):
    d = a.star[0] if len(a.star) == 1 else "(" + ", ".join(a.star) + ")"
    if a.given("dims"):
        d = a.src("dims")
    return f"jnp.flip({a.src('input')}, {d})"


RULES = [
    m("view", "*shape", _view, VIEW, (Example("x.view(2, -1)", X4), Example("x.view(-1, 5)", X4))),
    m("reshape", "*shape", _view, VIEW, (Example("x.reshape(x.shape[0], -1)", X4, channels_last=True),)),
    m("flatten", "start_dim=0, end_dim=-1", _flatten_m, Layout("aware"),
      (Example("x.flatten(1)", X4, channels_last=True), Example("x.flatten()", X2),
       Example("x.flatten(2)", X4, channels_last=True, expect="x.reshape(x.shape[0], -1, x.shape[-1])"),
       Example("x.flatten(2).transpose(1, 2)", X4, channels_last=True),
       Example("(x * 2.0).flatten(2)", X4, channels_last=True, expect="jax.lax.collapse("))),
    m("permute", "*dims", _permute, Layout("permute", tensors=("input",)),
      (Example("x.permute(0, 2, 3, 1)", X4), Example("x.permute(0, 2, 3, 1)", X4, channels_last=True),
       Example("x.permute(0, 3, 1, 2)", X4, channels_last=True))),
    m("transpose", "dim0, dim1", _swap, Layout("permute", dims=("dim0", "dim1"), swap=True),
      (Example("x.transpose(0, 1)", X2, expect="swapaxes"), Example("x.transpose(1, 2)", X4, channels_last=True))),
    m("swapaxes", "axis0, axis1", lambda a, ctx: f"jnp.swapaxes({a.src('input')}, {a.src('axis0')}, {a.src('axis1')})",
      PLAIN, (Example("x.swapaxes(0, 1)", X2),)),
    m("t", "", lambda a, ctx: f"{a.src('input')}.T", Layout("permute", swap=True),
      (Example("x.t()", X2), Example("x.t()", ("float32[5]",)))),
    m("contiguous", "memory_format=None", lambda a, ctx: a.src("input"), ELEMENTWISE, (Example("x.contiguous()", X2),)),
    m("clone", "memory_format=None", lambda a, ctx: a.src("input"), ELEMENTWISE, (Example("x.clone()", X2),)),
    m("detach", "", fn1("jax.lax.stop_gradient"), ELEMENTWISE, (Example("x.detach()", X2),)),
    m("cpu", "", lambda a, ctx: a.src("input"), ELEMENTWISE, (Example("x.cpu()", X2),)),
    m("cuda", "device=None, non_blocking=False", lambda a, ctx: a.src("input"), ELEMENTWISE, (Example("x.cuda()", X2, compare="identity"),),
      note="device placement is JAX's job; torch on a CPU-only machine cannot run it"),
    m("to", "*args, other=None, dtype=None, device=None, non_blocking=False, copy=False", _to, ELEMENTWISE,
      (Example("x.to(torch.float16)", X2), Example("x.to('cpu')", X2),
       Example("x.to(y.dtype)", ("float32[3,4]", "int32[2]:0:5")), Example("x.to('cpu', dtype=torch.int32)", X2))),
    m("float", "", _astype("jnp.float32"), ELEMENTWISE, (Example("x.float()", ("int32[3,4]:0:9",)),)),
    m("double", "", _astype("jnp.float64"), ELEMENTWISE, (Example("x.double()", X2, atol=1e-4),)),
    m("half", "", _astype("jnp.float16"), ELEMENTWISE, (Example("x.half()", X2, atol=1e-2),)),
    m("type", "dtype=None, non_blocking=False, **kwargs", _type, ELEMENTWISE,
      (Example("x.type(torch.int32)", ("float32[3,4]:-9:9",)), Example("x.type(y.dtype)", (X2[0], "float16[3,4]")))),
    m("int", "", _astype("jnp.int32"), ELEMENTWISE, (Example("x.int()", ("float32[3,4]:-9:9",)),)),
    m("long", "", _astype("jnp.int32"), ELEMENTWISE, (Example("x.long()", ("float32[3,4]:-9:9",)),),
      note="int64 is int32 in JAX unless x64 is enabled"),
    m("bool", "", _astype("jnp.bool_"), ELEMENTWISE, (Example("x.bool()", ("int32[3,4]:0:2",)),)),
    m("type_as", "other", lambda a, ctx: f"{a.src('input')}.astype({a.src('other')}.dtype)", ELEMENTWISE,
      (Example("x.type_as(y)", ("int32[3,4]:0:9", "float32[2]")),)),
    m("size", "dim=None", _size, dims("dim", result="other"),
      (Example("x.size(1)", X4, channels_last=True), Example("x.size(-1)", X4, channels_last=True),
       Example("x.size()", X2), Example("x.size()[3]", X4, channels_last=True)),
      layout_of=lambda a: None if a.given("dim") else Layout("shape")),
    m("dim", "", lambda a, ctx: f"{a.src('input')}.ndim", OTHER, (Example("x.dim()", X4),)),
    m("numel", "", lambda a, ctx: f"{a.src('input')}.size", OTHER, (Example("x.numel()", X4),)),
    m("item", "", lambda a, ctx: f"{a.src('input')}.item()", OTHER, (Example("x.sum().item()", X2),)),
    # Python numbers in torch's order (config code such as RegNet's widths)
    m("tolist", "", lambda a, ctx: f"{a.src('input')}.tolist()", PLAIN,
      (Example("torch.tensor(x.tolist()) * 2", X2), Example("torch.tensor(x.tolist())", X4, channels_last=True))),
    m("mean", "dim=None, keepdim=False, dtype=None", reduction("jnp.mean"), dims("dim", keepdim="keepdim", reduces=True),
      (Example("x.mean((2, 3))", X4, channels_last=True), Example("x.mean(dim=1, keepdim=True)", X4, channels_last=True),
       Example("x.mean()", X2))),
    m("sum", "dim=None, keepdim=False, dtype=None", reduction("jnp.sum"), dims("dim", keepdim="keepdim", reduces=True),
      (Example("x.sum(1)", X4, channels_last=True), Example("x.sum(-1, keepdim=True)", X4, channels_last=True))),
    m("prod", "dim=None, keepdim=False, dtype=None", reduction("jnp.prod"), dims("dim", keepdim="keepdim", reduces=True),
      (Example("x.prod(1)", X2),)),
    m("amax", "dim=(), keepdim=False", reduction("jnp.max"), dims("dim", keepdim="keepdim", reduces=True),
      (Example("x.amax((2, 3))", X4, channels_last=True),)),
    m("amin", "dim=(), keepdim=False", reduction("jnp.min"), dims("dim", keepdim="keepdim", reduces=True),
      (Example("x.amin(1)", X2),)),
    m("max", "dim=None, keepdim=False", maxmin("max"), _maxmin_layout(),
      (Example("x.max()", X2), Example("x.max(1)", X4, channels_last=True), Example("x.max(dim=-1, keepdim=True)[0]", X2)),
      returns_tuple=True),
    m("min", "dim=None, keepdim=False", maxmin("min"), _maxmin_layout(),
      (Example("x.min(0)[1]", X2),), returns_tuple=True),
    m("argmax", "dim=None, keepdim=False", reduction("jnp.argmax"), dims("dim", keepdim="keepdim", reduces=True),
      (Example("x.argmax(1)", X4, channels_last=True), Example("x.argmax()", X2))),
    m("argmin", "dim=None, keepdim=False", reduction("jnp.argmin"), dims("dim", keepdim="keepdim", reduces=True),
      (Example("x.argmin(-1)", X2),)),
    m("std", "dim=None, unbiased=None, keepdim=False, correction=None", stat("jnp.std"),
      dims("dim", keepdim="keepdim", reduces=True),
      (Example("x.std()", X2, expect="ddof=1"), Example("x.std(1, unbiased=False)", X4, channels_last=True),
       Example("x.std(dim=(2, 3), keepdim=True)", X4, channels_last=True))),
    m("var", "dim=None, unbiased=None, keepdim=False, correction=None", stat("jnp.var"),
      dims("dim", keepdim="keepdim", reduces=True),
      (Example("x.var(1)", X2), Example("x.var(0, correction=0)", X2))),
    m("norm", "p='fro', dim=None, keepdim=False, dtype=None", _norm, dims("dim", keepdim="keepdim", reduces=True),
      (Example("x.norm()", X2), Example("x.norm(dim=-1, keepdim=True)", X2), Example("x.norm(p=1, dim=1)", X2))),
    m("softmax", "dim", lambda a, ctx: f"jax.nn.softmax({a.src('input')}, axis={a.src('dim')})", dims("dim"),
      (Example("x.softmax(1)", X4, channels_last=True),)),
    m("log_softmax", "dim", lambda a, ctx: f"jax.nn.log_softmax({a.src('input')}, axis={a.src('dim')})", dims("dim"),
      (Example("x.log_softmax(-1)", X2),)),
    m("squeeze", "dim=None", _squeeze, dims("dim", reduces=True, nodim="canonical"),
      (Example("x.squeeze(1)", ("float32[3,1,4]",)), Example("x.squeeze(0)", ("float32[3,1,4]",)),
       Example("x.squeeze()", ("float32[3,1,4]",)))),
    m("unsqueeze", "dim", _unsqueeze, PLAIN, (Example("x.unsqueeze(1)", X2), Example("x.unsqueeze(-1)", X2))),
    m("repeat", "*sizes", _repeat, PLAIN, (Example("x.repeat(2, 3)", X2, expect="jnp.tile"),)),
    # torch.tile pads dims with leading ones, as jnp.tile does (unlike repeat, fewer dims than x are allowed)
    m("tile", "*dims", _tile, PLAIN, (Example("x.tile((2, 3))", X2, expect="jnp.tile"),
                                        Example("x.tile(2)", ("float32[3,4]",)),
                                        Example("x.tile((2, 1, 3))", X2))),
    m("repeat_interleave", "repeats, dim=None",
      lambda a, ctx: f"jnp.repeat({', '.join([a.src('input'), a.src('repeats')] + _axis_kw(a))})",
      dims("dim", nodim="canonical"), (Example("x.repeat_interleave(2, dim=0)", X2),)),
    m("expand", "*sizes", _expand, PLAIN, (Example("x.expand(3, 4)", ("float32[1,4]",)),
                                           Example("x.expand(2, -1, 4)", ("float32[1,3,1]",)))),
    # torch's shape of `other` (a channels-last activation or a kernel is read in torch's order)
    m("reshape_as", "other", lambda a, ctx: f"{a.src('input')}.reshape({a.src('other')}.shape)",
      Layout("plain", tensors=("input", "other")),
      (Example("x.reshape_as(y)", ("float32[2,48]", "float32[2,3,4,4]")),
       Example("y.flatten(1).reshape_as(y)", ("float32[2,48]", "float32[2,3,4,4]"), channels_last=True))),
    m("view_as", "other", lambda a, ctx: f"{a.src('input')}.reshape({a.src('other')}.shape)",
      Layout("plain", tensors=("input", "other")),
      (Example("x.view_as(y)", ("float32[2,48]", "float32[2,3,4,4]")),)),
    m("expand_as", "other", lambda a, ctx: f"jnp.broadcast_to({a.src('input')}, {a.src('other')}.shape)",
      Layout("elementwise", tensors=("input", "other")),
      (Example("x.expand_as(y)", ("float32[1,4]", "float32[3,4]")),)),
    m("masked_fill", "mask, value", _masked_fill, Layout("elementwise", tensors=("input", "mask")),
      (Example("x.masked_fill(y, float('-inf'))", ("float32[3,4]", "bool[3,4]")),
       Example("x.masked_fill(y > 0, 0.0)", ("float32[3,4]", "float32[3,4]")))),
    m("clamp", "min=None, max=None", _clamp, ELEMENTWISE, (Example("x.clamp(min=0.0)", X2),
                                                         Example("x.clamp(-0.5, 0.5)", X2))),
    m("clip", "min=None, max=None", _clamp, ELEMENTWISE, (Example("x.clip(-0.5, 0.5)", X2),)),
    m("exp", "", fn1("jnp.exp"), ELEMENTWISE, (Example("x.exp()", X2),)),
    m("log", "", fn1("jnp.log"), ELEMENTWISE, (Example("x.log()", ("float32[3,4]:0.1:5",)),)),
    m("sqrt", "", fn1("jnp.sqrt"), ELEMENTWISE, (Example("x.sqrt()", ("float32[3,4]:0.1:5",)),)),
    m("square", "", fn1("jnp.square"), ELEMENTWISE, (Example("x.square()", X2),
                                                      Example("x.square()", ("float32[2,3,4,5]",), channels_last=True))),
    m("reciprocal", "", fn1("jnp.reciprocal"), ELEMENTWISE, (Example("x.reciprocal()", ("float32[3,4]:0.1:5",)),)),
    m("rsqrt", "", fn1("jax.lax.rsqrt"), ELEMENTWISE, (Example("x.rsqrt()", ("float32[3,4]:0.1:5",)),)),
    m("abs", "", fn1("jnp.abs"), ELEMENTWISE, (Example("x.abs()", X2),)),
    m("sign", "", fn1("jnp.sign"), ELEMENTWISE, (Example("x.sign()", ("float32[3,4]:-5:5",)),)),
    m("log2", "", fn1("jnp.log2"), ELEMENTWISE, (Example("x.log2()", ("float32[3,4]:0.1:5",)),)),
    m("log1p", "", fn1("jnp.log1p"), ELEMENTWISE, (Example("x.log1p()", ("float32[3,4]:0.1:5",)),)),
    m("addcmul", "tensor1, tensor2, *, value=1", _addcmul,
      Layout("elementwise", tensors=("input", "tensor1", "tensor2")),
      (Example("x.addcmul(y, x, value=0.5)", ("float32[3,4]", "float32[3,4]")),
       Example("x.addcmul(y, y)", ("float32[2,3,4,4]", "float32[2,3,4,4]"), channels_last=True))),
    m("unique", "sorted=True, return_inverse=False, return_counts=False, dim=None", _unique, Layout("plain"),
      (Example("x.unique()", ("int32[12]:0:5",)),
       Example("x.unique(return_counts=True)[1]", ("int32[3,4]:0:5",)),
       Example("x.unique(dim=0, return_inverse=True)[1]", ("int32[6,2]:0:2",))), returns_tuple=True),
    m("neg", "", lambda a, ctx: f"(-{a.src('input')})", ELEMENTWISE, (Example("x.neg()", X2),)),
    m("sigmoid", "", fn1("jax.nn.sigmoid"), ELEMENTWISE, (Example("x.sigmoid()", X2),)),
    m("tanh", "", fn1("jnp.tanh"), ELEMENTWISE, (Example("x.tanh()", X2),)),
    m("relu", "", fn1("jax.nn.relu"), ELEMENTWISE, (Example("x.relu()", X2),)),
    m("sin", "", fn1("jnp.sin"), ELEMENTWISE, (Example("x.sin()", X2),)),
    m("cos", "", fn1("jnp.cos"), ELEMENTWISE, (Example("x.cos()", X2),)),
    m("floor", "", fn1("jnp.floor"), ELEMENTWISE, (Example("x.floor()", X2),)),
    m("round", "decimals=0", lambda a, ctx: f"jnp.round({a.src('input')}, {a.src('decimals')})", ELEMENTWISE,
      (Example("x.round()", ("float32[3,4]:-5:5",)),)),
    m("pow", "exponent", lambda a, ctx: f"({a.src('input')} ** {a.src('exponent')})", ELEMENTWISE,
      (Example("x.pow(2)", X2),)),
    m("add", "other, alpha=1", binop("+"), Layout("elementwise", tensors=("input", "other")),
      (Example("x.add(y)", ("float32[3,4]", "float32[3,4]")), Example("x.add(y, alpha=2)", ("float32[3,4]", "float32[4]")))),
    m("sub", "other, alpha=1", binop("-"), Layout("elementwise", tensors=("input", "other")),
      (Example("x.sub(y)", ("float32[3,4]", "float32[3,4]")),)),
    m("mul", "other", binop("*"), Layout("elementwise", tensors=("input", "other")),
      (Example("x.mul(y)", ("float32[3,4]", "float32[3,4]")),)),
    m("div", "other, rounding_mode=None", binop("/"), Layout("elementwise", tensors=("input", "other")),
      (Example("x.div(y)", ("float32[3,4]", "float32[3,4]:1:3")),
       Example("x.div(y, rounding_mode='floor')", ("float32[3,4]:-9:9", "float32[3,4]:1:3")))),
    m("divide", "other, *, rounding_mode=None", binop("/"), Layout("elementwise", tensors=("input", "other")),
      (Example("x.divide(y)", ("float32[3,4]", "float32[3,4]:1:3")),)),
    m("diff", "n=1, dim=-1, prepend=None, append=None", _diff, dims("dim", nodim="canonical"),
      (Example("x.diff()", X2), Example("x.diff(dim=1)", X4, channels_last=True),
       Example("x.diff(2, 0, prepend=y)", ("float32[3,4]", "float32[1,4]")))),
    m("matmul", "other", lambda a, ctx: f"({a.src('input')} @ {a.src('other')})", Layout("plain", tensors=("input", "other")),
      (Example("x.matmul(y)", ("float32[3,4]", "float32[4,2]")),)),
    m("bmm", "mat2", lambda a, ctx: f"({a.src('input')} @ {a.src('mat2')})", Layout("plain", tensors=("input", "mat2")),
      (Example("x.bmm(y)", ("float32[2,3,4]", "float32[2,4,2]")),)),
    m("chunk", "chunks, dim=0", _chunk, dims("dim"), (Example("x.chunk(3, dim=1)[2]", ("float32[2,10]",)),
                                                      Example("x.chunk(2, 1)[0]", X4, channels_last=True)),
      returns_tuple=True),
    m("tensor_split", "indices_or_sections=None, dim=0, *, indices=None, sections=None", _tensor_split, dims("dim"),
      (Example("x.tensor_split(3, dim=1)[2]", ("float32[2,10]",)),
       Example("x.tensor_split(indices=(1,), dim=1)[1]", ("float32[2,10]",)),
       Example("x.tensor_split([1, 2], 1)[2]", X4, channels_last=True)),
      returns_tuple=True),
    m("unfold", "dimension, size, step", _unfold, PLAIN,
      (Example("x.unfold(1, 2, 1)", ("float32[3,5]",)), Example("x.unfold(-1, 3, 2)", ("float32[2,3,7]",)),
       Example("x.unfold(2, 3, 2).unfold(3, 2, 2)", X4, channels_last=True),
       Example("x.unfold(1, 2, 1)", X4, channels_last=True))),
    m("split", "split_size, dim=0", _split, dims("dim"),
      (Example("x.split(3, dim=1)[3]", ("float32[2,10]",)), Example("x.split([2, 5, 3], 1)[1]", ("float32[2,10]",))),
      returns_tuple=True, ambiguous=True),
    m("topk", "k, dim=-1, largest=True, sorted=True", _topk, dims("dim"),
      (Example("x.topk(2)[0]", X2), Example("x.topk(2, dim=0, largest=False)[1]", X2)), returns_tuple=True),
    m("sort", "dim=-1, descending=False, stable=False", _sort, dims("dim"),
      (Example("x.sort(descending=True)[0]", X2), Example("x.sort(0)[1]", X2)), returns_tuple=True),
    m("gather", "dim, index", _gather, Layout("plain", tensors=("input", "index")),
      (Example("x.gather(1, y)", ("float32[3,4]", "int32[3,2]:0:4")),)),
    m("index_select", "dim, index", _index_select, dims("dim"),
      (Example("x.index_select(1, y)", ("float32[3,4]", "int32[3]:0:4")),)),
    m("flip", "*dims", _flip, PLAIN, (Example("x.flip(1)", X2), Example("x.flip(0, 1)", X2))),
    m("roll", "shifts, dims=None", _roll, dims("dims", nodim="canonical"),
      (Example("x.roll((1, -2), dims=(2, 3))", X4, channels_last=True), Example("x.roll(2, 1)", X4, channels_last=True),
       Example("x.roll(3)", X2))),
    m("cumsum", "dim, dtype=None", lambda a, ctx: f"jnp.cumsum({a.src('input')}, axis={a.src('dim')})", dims("dim"),
      (Example("x.cumsum(1)", X2),)),
    m("new_zeros", "*size, dtype=None, device=None, requires_grad=False", _new("zeros"), Layout("source"),
      (Example("x.new_zeros(2, 3)", X2), Example("x.new_zeros((4,))", X2),
       Example("x.new_zeros(*x.shape)", X2))),
    m("new_ones", "*size, dtype=None, device=None, requires_grad=False", _new("ones"), Layout("source"),
      (Example("x.new_ones(2, 3)", X2),)),
    m("new_full", "size, fill_value, dtype=None, device=None, requires_grad=False", _new("full"), Layout("source"),
      (Example("x.new_full((2, 3), 1.5)", X2),)),
    m("tril", "diagonal=0", lambda a, ctx: f"jnp.tril({a.src('input')}, {a.src('diagonal')})", PLAIN,
      (Example("x.tril()", X2),)),
    m("triu", "diagonal=0", lambda a, ctx: f"jnp.triu({a.src('input')}, {a.src('diagonal')})", PLAIN,
      (Example("x.triu(1)", X2),)),
    m("all", "dim=None, keepdim=False", reduction("jnp.all"), dims("dim", keepdim="keepdim", reduces=True),
      (Example("(x > 0).all()", X2),)),
    m("any", "dim=None, keepdim=False", reduction("jnp.any"), dims("dim", keepdim="keepdim", reduces=True),
      (Example("(x > 0).any(1)", X2),)),
    m("erfinv", "", fn1("jax.scipy.special.erfinv"), ELEMENTWISE, (Example("x.erfinv()", ("float32[3,4]:-0.9:0.9",)),)),
    # in-place forms: the value is written into the receiver (inplace_set), and a
    # statement `x.add_(y)` rebinds it, `x = inplace_set(x, x + y)`
    m("add_", "other, alpha=1", inplace(binop("+")), Layout("elementwise", tensors=("input", "other")),
      (Example("x.add_(y)", ("float32[3,4]", "float32[3,4]")),)),
    m("mul_", "other", inplace(binop("*")), Layout("elementwise", tensors=("input", "other")),
      (Example("x.mul_(y)", ("float32[3,4]", "float32[3,4]")),)),
    m("sub_", "other, alpha=1", inplace(binop("-")), Layout("elementwise", tensors=("input", "other")),
      (Example("x.sub_(y)", ("float32[3,4]", "float32[3,4]")),)),
    m("div_", "other, rounding_mode=None", inplace(binop("/")), Layout("elementwise", tensors=("input", "other")),
      (Example("x.div_(2.0)", X2),)),
    m("pow_", "exponent", inplace(lambda a, ctx: f"({a.src('input')} ** {a.src('exponent')})"), ELEMENTWISE,
      (Example("x.pow_(2)", X2),)),
    m("bernoulli_", "p=0.5, *, generator=None", inplace(_bernoulli_), ELEMENTWISE,
      (Example("x.bernoulli_(0.7)", ("float32[200,300]",), compare="stats"),)),
    m("uniform_", "from=0.0, to=1.0, *, generator=None", inplace(_uniform_), ELEMENTWISE,
      (Example("x.uniform_(-1.0, 2.0)", ("float32[200,300]",), compare="stats"),
       Example("torch.empty(200, 300).uniform_(-0.5, 0.5)", (), compare="stats", where="init"),
       Example("self.layer.weight.data.uniform_(-0.1, 0.3)", (), compare="stats", where="nn.Linear(300, 200)"))),
    m("normal_", "mean=0.0, std=1.0, *, generator=None", inplace(_normal_), ELEMENTWISE,
      (Example("x.normal_(1.0, 3.0)", ("float32[200,300]",), compare="stats"),
       Example("self.layer.weight.data.normal_(0, 0.01)", (), compare="stats", where="nn.Conv2d(64, 128, 3)"))),
    m("erfinv_", "", inplace(fn1("jax.scipy.special.erfinv")), ELEMENTWISE,
      (Example("x.erfinv_()", ("float32[3,4]:-0.9:0.9",)),)),
    m("copy_", "src, non_blocking=False", inplace(_copy_), Layout("elementwise", tensors=("input", "src")),
      (Example("x.copy_(y)", ("float32[3,4]", "float32[4]")),
       Example("self.layer.bias.data.copy_(torch.arange(20.0))", (), compare="stats", where="nn.Linear(30, 20)"))),
    m("clamp_", "min=None, max=None", inplace(_clamp), ELEMENTWISE, (Example("x.clamp_(min=0.0)", X2),)),
    m("clip_", "min=None, max=None", inplace(_clamp), ELEMENTWISE, (Example("x.clip_(-0.5, 0.5)", X2),)),
    m("relu_", "", inplace(fn1("jax.nn.relu")), ELEMENTWISE, (Example("x.relu_()", X2),)),
    m("detach_", "", inplace(fn1("jax.lax.stop_gradient")), ELEMENTWISE, (Example("x.detach_() * 2.0", X2),)),
    m("sigmoid_", "", inplace(fn1("jax.nn.sigmoid")), ELEMENTWISE, (Example("x.sigmoid_()", X2),)),
    m("tanh_", "", inplace(fn1("jnp.tanh")), ELEMENTWISE, (Example("x.tanh_()", X2),)),
    m("exp_", "", inplace(fn1("jnp.exp")), ELEMENTWISE, (Example("x.exp_()", X2),)),
    m("log_", "", inplace(fn1("jnp.log")), ELEMENTWISE, (Example("x.log_()", ("float32[3,4]:0.1:5",)),)),
    m("sqrt_", "", inplace(fn1("jnp.sqrt")), ELEMENTWISE, (Example("x.sqrt_()", ("float32[3,4]:0.1:5",)),)),
    m("abs_", "", inplace(fn1("jnp.abs")), ELEMENTWISE, (Example("x.abs_()", X2),)),
    m("neg_", "", inplace(lambda a, ctx: f"(-{a.src('input')})"), ELEMENTWISE, (Example("x.neg_()", X2),)),
    m("floor_", "", inplace(fn1("jnp.floor")), ELEMENTWISE, (Example("x.floor_()", X2),)),
    m("zero_", "", inplace(fn1("jnp.zeros_like")), ELEMENTWISE,
      (Example("x.zero_()", X2), Example("self.layer.bias.data.zero_()", (), compare="stats", where="nn.Linear(30, 20)"))),
    m("fill_", "value", inplace(lambda a, ctx: f"jnp.full_like({a.src('input')}, {a.src('value')})"), ELEMENTWISE,
      (Example("x.fill_(2.0)", X2),)),
    m("masked_fill_", "mask, value", inplace(_masked_fill), Layout("elementwise", tensors=("input", "mask")),
      (Example("x.masked_fill_(y, 0.0)", ("float32[3,4]", "bool[3,4]")),)),
]

PROPERTIES = [
    Rule("Tensor.shape", "input", lambda a, ctx: f"{a.src('input')}.shape", layout=Layout("shape"),
         examples=(Example("x.shape[1]", X4, channels_last=True),)),
    Rule("Tensor.data", "input", lambda a, ctx: a.src("input"), layout=ELEMENTWISE,
         examples=(Example("x.data", X2),)),
    Rule("Tensor.real", "input", lambda a, ctx: f"jnp.real({a.src('input')})", layout=ELEMENTWISE,
         examples=(Example("torch.fft.fft(x).real", X2), Example("x.real", X2))),
    Rule("Tensor.imag", "input", lambda a, ctx: f"jnp.imag({a.src('input')})", layout=ELEMENTWISE,
         examples=(Example("torch.fft.fft(x).imag", X2),)),
    Rule("Tensor.T", "input", lambda a, ctx: f"{a.src('input')}.T", layout=Layout("permute", swap=True),
         examples=(Example("x.T", X2), Example("x.flatten(2).T", X4, channels_last=True))),
    Rule("Tensor.mT", "input", lambda a, ctx: f"jnp.swapaxes({a.src('input')}, -2, -1)", layout=PLAIN,
         examples=(Example("x.mT", ("float32[2,3,4]",)),)),
    Rule("Tensor.is_cuda", "input", lambda a, ctx: "False", layout=OTHER, examples=(Example("x.is_cuda", X2),)),
]


_BY_NAME = {r.name.split(".", 1)[1]: r for r in RULES}


def lookup(name):
    return _BY_NAME[name]
