"""Scatter and index updates: torch.X, the Tensor method x.X and its in-place
x.X_ (a functional update the engine writes back), each a runtime helper over
jnp's ``.at[...]`` (runtime/index_updates.py)."""

from .base import Example, Layout, Rule, Unsupported
from .methods import inplace
from .util import call


def _plain(*tensors):
    return Layout("plain", tensors=tensors)


def _opt(a, parts, *names):
    for n in names:
        if a.given(n) and a.src(n) != "None":
            parts.append(f"{n}={a.src(n)}")


def _scatter(a, ctx):
    if a.given("src") == a.given("value"):
        raise Unsupported("T2N002", "scatter takes one of src and value")
    reduce = a.value("reduce")
    if isinstance(reduce, str) and reduce not in ("add", "multiply"):
        raise Unsupported("T2N002", f"scatter reduce={reduce!r}")
    parts = [a.src("input"), a.src("dim"), a.src("index"), a.src("src" if a.given("src") else "value")]
    _opt(a, parts, "reduce")
    return call(ctx.helper("scatter"), parts)


def _scatter_add(a, ctx):
    return call(ctx.helper("scatter"), [a.src("input"), a.src("dim"), a.src("index"), a.src("src"), "reduce='add'"])


def _scatter_reduce(a, ctx):
    reduce = a.value("reduce")
    if isinstance(reduce, str) and reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise Unsupported("T2N002", f"scatter_reduce reduce={reduce!r}")
    parts = [a.src(n) for n in ("input", "dim", "index", "src", "reduce")]
    _opt(a, parts, "include_self")
    return call(ctx.helper("scatter_reduce"), parts)


def _helper(name, params, keywords=()):
    def build(a, ctx):
        parts = [a.src(p) for p in params]
        _opt(a, parts, *keywords)
        return call(ctx.helper(name), parts)
    return build


def _take(a, ctx):
    return f"jnp.ravel({a.src('input')})[{a.src('index')}]"


def _take_along_dim(a, ctx):
    if not a.given("dim") or a.src("dim") == "None":  # both seen flat
        return f"jnp.take_along_axis(jnp.ravel({a.src('input')}), jnp.ravel({a.src('indices')}), axis=0)"
    return f"jnp.take_along_axis({a.src('input')}, {a.src('indices')}, axis={a.src('dim')})"


# name -> (signature after input, build, tensors, examples written as x.NAME(...))
_SCATTER_SIG = "dim, index, src=None, *, value=None, reduce=None"
X = "float32[4,5]"
Y = "float32[4,5]"
# distinct indices along a dim (topk's), so that plain writes have one value per place
ROWS0 = "y.topk(3, dim=0)[1]"  # (3, 5) into dim 0 of (4, 5)
COLS1 = "y.topk(2, dim=1)[1]"  # (4, 2) into dim 1

TABLE = {
    "scatter": (_SCATTER_SIG, _scatter, ("input", "index", "src"), (
        (f"x.scatter(0, {ROWS0}, y * 10)", (X, Y)),
        (f"x.scatter(1, {COLS1}, -1.5)", (X, Y)),
        (f"x.scatter(-1, {COLS1}, value=2.0)", (X, Y)),
        ("x.scatter(1, y, z, reduce='add')", (X, "int32[4,3]:0:5", "float32[4,3]")),
        ("x.scatter(0, y, z, reduce='multiply')", (X, "int32[2,5]:0:4", "float32[3,5]")))),
    "scatter_add": ("dim, index, src", _scatter_add, ("input", "index", "src"), (
        ("x.scatter_add(1, y, z)", (X, "int32[4,7]:0:5", "float32[4,8]")),
        ("x.scatter_add(0, y, z)", (X, "int32[6,5]:0:4", "float32[6,5]")))),
    "scatter_reduce": ("dim, index, src, reduce, *, include_self=True", _scatter_reduce, ("input", "index", "src"), (
        ("x.scatter_reduce(1, y, z, 'sum')", (X, "int32[4,6]:0:5", "float32[4,6]")),
        ("x.scatter_reduce(1, y, z, 'prod', include_self=False)", (X, "int32[4,6]:0:5", "float32[4,6]")),
        ("x.scatter_reduce(0, y, z, 'mean')", (X, "int32[6,5]:0:4", "float32[6,5]")),
        ("x.scatter_reduce(0, y, z, reduce='mean', include_self=False)", (X, "int32[6,5]:0:4", "float32[6,5]")),
        ("x.scatter_reduce(1, y, z, 'amax', include_self=False)", (X, "int32[4,3]:0:5", "float32[4,3]")),
        ("x.scatter_reduce(-1, y, z, 'amin')", (X, "int32[4,6]:0:5", "float32[4,6]")),
        ("x.long().scatter_reduce(0, y, z.long(), 'mean') * 1.0", ("int32[4,5]:-20:20", "int32[6,5]:0:4",
                                                                    "int32[6,5]:-20:20")))),
    "index_add": ("dim, index, source, *, alpha=1", _helper("index_add", ("input", "dim", "index", "source"), ("alpha",)),
                  ("input", "index", "source"), (
        ("x.index_add(0, y, z)", (X, "int32[6]:0:4", "float32[6,5]")),
        ("x.index_add(1, y, z, alpha=-2.0)", (X, "int32[3]:0:5", "float32[4,3]")))),
    "index_copy": ("dim, index, source", _helper("index_copy", ("input", "dim", "index", "source")),
                   ("input", "index", "source"), (
        ("x.index_copy(1, y.topk(2)[1][0], z)", (X, Y, "float32[4,2]")),)),
    "index_fill": ("dim, index, value", _helper("index_fill", ("input", "dim", "index", "value")),
                   ("input", "index"), (
        ("x.index_fill(1, y, -1.0)", (X, "int32[3]:0:5")),
        ("x.index_fill(0, y, x[0, 0])", (X, "int32[2]:0:4")))),
    "index_put": ("indices, values, accumulate=False",
                  _helper("index_put", ("input", "indices", "values"), ("accumulate",)), ("input", "values"), (
        ("x.index_put((y.topk(2, dim=0)[1][:, 0],), z)", (X, Y, "float32[2,5]")),
        ("x.index_put((y, y), z, accumulate=True)", (X, "int32[6]:0:4", "float32[6]")),
        ("x.index_put([y > 0], x[0, 0])", (X, Y)))),
    "masked_scatter": ("mask, source", _helper("masked_scatter", ("input", "mask", "source")),
                       ("input", "mask", "source"), (
        ("x.masked_scatter(y > 0, z)", (X, Y, "float32[5,5]")),
        ("x.masked_scatter(y[0] > 0, z)", (X, Y, "float32[30]")))),
    "put": ("index, source, accumulate=False", _helper("flat_put", ("input", "index", "source"), ("accumulate",)),
            ("input", "index", "source"), (
        ("x.put(y.flatten().topk(4)[1], z)", (X, Y, "float32[4]")),
        ("x.put(y, z, accumulate=True)", (X, "int32[2,3]:0:20", "float32[6]")))),
}


# method names common on other objects (a queue's put, matplotlib's scatter): rewritten
# only on a receiver known to be a tensor
_COMMON = ("scatter", "put")


def _fn_example(src):
    """x.NAME(args) -> torch.NAME(x, args)."""
    name, rest = src[2:].split("(", 1)
    return f"torch.{name}(x, {rest}"


def _rows():
    calls, methods = [], []
    for name, (sig, build, tensors, examples) in TABLE.items():
        layout = _plain(*tensors)
        method_examples = tuple(Example(s, inputs) for s, inputs in examples)
        out = ", out=None" if "*" in sig else ", *, out=None"
        calls.append(Rule(f"torch.{name}", "input, " + sig + out, build, layout=layout,
                          examples=tuple(Example(_fn_example(e.torch), e.inputs) for e in method_examples
                                         if e.torch.startswith(f"x.{name}("))))
        methods.append(Rule(f"Tensor.{name}", "input, " + sig, build, layout=layout, examples=method_examples,
                            ambiguous=name in _COMMON))
        in_place = tuple(Example(e.torch.replace(f"x.{name}(", f"x.{name}_(", 1), e.inputs)
                         for e in method_examples if e.torch.startswith(f"x.{name}("))
        # as a statement: the receiver is rebound to the update
        in_place += (Example(in_place[0].torch, in_place[0].inputs, where="stmt"),)
        methods.append(Rule(f"Tensor.{name}_", "input, " + sig, inplace(build), layout=layout, examples=in_place,
                            ambiguous=name in _COMMON))
    return calls, methods


RULES, METHODS = _rows()
RULES += [
    Rule("torch.take", "input, index", _take, layout=_plain("input", "index"),
         examples=(Example("torch.take(x, y)", (X, "int32[2,3]:-20:20")),)),
    Rule("torch.take_along_dim", "input, indices, dim=None, *, out=None", _take_along_dim,
         layout=_plain("input", "indices"),
         examples=(Example("torch.take_along_dim(x, y, dim=1)", (X, "int32[4,3]:0:5")),
                   Example("torch.take_along_dim(x, y, 0)", (X, "int32[2,1]:0:4")),
                   Example("torch.take_along_dim(x, y)", (X, "int32[7]:0:20")))),
]
METHODS += [
    Rule("Tensor.take", "input, index", _take, layout=_plain("input", "index"), ambiguous=True,
         examples=(Example("x.take(y)", (X, "int32[3]:0:20")),)),
    Rule("Tensor.take_along_dim", "input, indices, dim=None", _take_along_dim, layout=_plain("input", "indices"),
         examples=(Example("x.take_along_dim(y, 1)", (X, "int32[4,2]:0:5")),)),
]
