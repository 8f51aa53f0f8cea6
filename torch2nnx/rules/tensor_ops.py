"""torch.* functions (nnx_facts §12).

Functions that are also tensor methods reuse the method row's build and
layout (``torch.mean(x, 1)`` is ``x.mean(1)``); the others are rows here.
"""

import ast
import re

from . import methods
from .base import ELEMENTWISE, PLAIN, SOURCE, Example, Layout, Rule, Unsupported, dims
from .random_ops import random_key

# tensor methods that torch also exposes as torch.<name>(input, ...)
FROM_METHODS = [
    "flatten", "reshape", "permute", "transpose", "swapaxes", "t", "detach", "mean", "sum", "prod", "amax", "amin",
    "max", "min", "argmax", "argmin", "std", "var", "norm", "softmax", "log_softmax", "squeeze", "unsqueeze",
    "repeat_interleave", "masked_fill", "clamp", "clip", "exp", "log", "sqrt", "rsqrt", "abs", "neg", "sigmoid",
    "tanh", "relu", "sin", "cos", "floor", "round", "erfinv", "pow", "add", "sub", "mul", "div", "divide", "diff", "matmul", "bmm", "chunk", "tensor_split",
    "topk", "sort", "gather", "index_select", "flip", "cumsum", "tril", "triu", "numel", "sign", "log2", "log1p",
    "addcmul", "unique", "roll", "tile", "square", "reciprocal",
]

_CALL = re.compile(r"^x\.(\w+)\((.*)$", re.S)


def _as_function(example: Example) -> Example | None:
    m = _CALL.match(example.torch)
    if not m:
        return None
    name, rest = m.groups()
    rest = rest[1:] if rest.startswith(")") and False else rest
    src = f"torch.{name}(x)" + rest[1:] if rest.startswith(")") else f"torch.{name}(x, {rest}"
    return Example(src, example.inputs, None, example.channels_last, example.train, example.atol, example.compare)


def _from_method(name: str) -> Rule:
    r = methods.lookup(name)
    params = r.params
    if name == "permute":
        params = "input, dims"
    if name == "reshape":
        params = "input, shape"
    exs = tuple(e for e in (_as_function(e) for e in r.examples) if e is not None)
    layout = r.layout
    if name == "reshape":
        layout = Layout("view")
    if name == "permute":
        layout = Layout("permute", dims=("dims",))
    if name == "flip":
        params = "input, dims"
        exs = (Example("torch.flip(x, (1,))", ("float32[3,4]",)), Example("torch.flip(x, [0, 1])", ("float32[3,4]",)))
    if name == "tile":
        params = "input, dims"
        exs = (Example("torch.tile(x, (2, 1))", ("float32[3,4]",)), Example("torch.tile(x, (2,))", ("float32[3,4]",)))
    if name in ("permute",):
        exs = (Example("torch.permute(x, (0, 2, 3, 1))", ("float32[2,3,4,5]",), channels_last=True),)
    if name == "reshape":
        exs = (Example("torch.reshape(x, (2, -1))", ("float32[2,3,4,5]",), channels_last=True),)
    if name == "flatten":
        exs = (Example("torch.flatten(x, 1)", ("float32[2,3,4,5]",), channels_last=True),
               Example("torch.flatten(x)", ("float32[2,3]",)))
    build = r.build
    if name == "reshape":
        build = lambda a, ctx: f"{a.src('input')}.reshape({a.src('shape')})"  # noqa: E731
    return Rule(f"torch.{name}", params, build, layout=layout, examples=exs, returns_tuple=r.returns_tuple,
                helpers=r.helpers, note=r.note)


def _cat(a, ctx):
    return f"jnp.concatenate({a.src('tensors')}, axis={a.src('dim')})"


def _stack(a, ctx):
    return f"jnp.stack({a.src('tensors')}, axis={a.src('dim')})"


_DROP = ("device", "requires_grad", "layout", "pin_memory", "memory_format", "out", "generator")


def creation(fn, shape_param="*size"):
    def build(a, ctx):
        parts = [a.shape() if shape_param == "*size" else a.src(shape_param.lstrip("*"))]
        if fn == "full":
            parts.append(a.src("fill_value"))
        if a.given("dtype"):
            parts.append(f"dtype={a.src('dtype')}")
        return f"jnp.{fn}({', '.join(parts)})"
    return build


def random(kind):
    def build(a, ctx):
        # drawn in forward too (a drop-connect mask, torch.rand([N, 1, 1, 1])): from the
        # module's own Rngs, or a plain function's rngs; a batch-only mask takes its
        # input's layout (translator/batch_noise.py)
        methods._no_generator(a)
        shape = a.shape()
        dtype = f", dtype={a.src('dtype')}" if a.given("dtype") else ""
        fn = "normal" if kind == "randn" else "uniform"
        return f"jax.random.{fn}({random_key(ctx)}, {shape}{dtype})"
    return build


def like(fn):
    def build(a, ctx):
        parts = [a.src("input")]
        if fn == "full_like":
            parts.append(a.src("fill_value"))
        if a.given("dtype"):
            parts.append(f"dtype={a.src('dtype')}")
        return f"jnp.{fn}({', '.join(parts)})"
    return build


def _arange(a, ctx):
    parts = [a.src("start")]
    if a.given("end"):
        parts.append(a.src("end"))
    if a.given("step"):
        parts.append(a.src("step"))
    if a.given("dtype"):
        parts.append(f"dtype={a.src('dtype')}")
    return f"jnp.arange({', '.join(parts)})"


def _tensor(a, ctx):
    parts = [a.src("data")]
    if a.given("dtype"):
        parts.append(f"dtype={a.src('dtype')}")
    return f"jnp.asarray({', '.join(parts)})"


def _typed_tensor(dtype):
    def build(a, ctx):
        return f"{ctx.helper('typed_tensor')}({', '.join(list(a.star) + ['dtype=' + dtype])})"
    return build


def _einsum(a, ctx):
    return f"jnp.einsum({', '.join([a.src('equation')] + list(a.star))})"


def _where(a, ctx):
    if not a.given("input"):
        raise Unsupported("T2N005", "torch.where(cond) returns data-dependent shapes")
    return f"jnp.where({a.src('condition')}, {a.src('input')}, {a.src('other')})"


def _split(a, ctx):
    return f"{ctx.helper('split')}({a.src('tensor')}, {a.src('split_size_or_sections')}, axis={a.src('dim')})"


_SZ = "*size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, out=None, generator=None"
def _meshgrid(a, ctx):
    """torch.meshgrid takes the tensors, or one list or tuple of them; torch's default
    indexing is 'ij', jnp's is 'xy'."""
    ix = a.src("indexing") if a.given("indexing") and a.src("indexing") != "None" else repr("ij")
    star = list(a.star)
    if len(star) == 1 and not star[0].startswith("*"):
        one = star[0]
        try:
            node = ast.parse(one, mode="eval").body
        except SyntaxError:
            node = None
        if isinstance(node, (ast.List, ast.Tuple, ast.ListComp, ast.GeneratorExp)):
            star = [f"*{one}"]  # the sequence of tensors itself
        else:
            star = [f"*{ctx.helper('tensor_sequence')}({one})"]  # a tensor, or a sequence of them
    return f"jnp.meshgrid({', '.join(star)}, indexing={ix})"


_LIKE = "input, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None"
X2 = ("float32[3,4]",)

RULES = [_from_method(n) for n in FROM_METHODS] + [
    Rule("torch.cat", "tensors, dim=0, out=None", _cat, layout=dims("dim", tensors=("tensors",)),
         examples=(Example("torch.cat([x, y], dim=1)", ("float32[2,3,4,4]", "float32[2,5,4,4]"), channels_last=True,
                           expect="axis=-1"),
                   Example("torch.cat((x, y), 0)", ("float32[2,3]", "float32[4,3]")))),
    Rule("torch.concat", "tensors, dim=0, out=None", _cat, layout=dims("dim", tensors=("tensors",)),
         examples=(Example("torch.concat([x, y], dim=-1)", ("float32[2,3]", "float32[2,4]")),)),
    # torch's default indexing is 'ij', jnp's is 'xy'
    Rule("torch.meshgrid", "*tensors, indexing=None", _meshgrid,
         layout=Layout("plain", tensors=()), returns_tuple=True,
         examples=(Example("torch.meshgrid(x, y)[0]", ("float32[3]", "float32[4]")),
                   Example("torch.meshgrid(x, y, indexing='xy')[1]", ("float32[3]", "float32[4]")),
                   Example("torch.stack(torch.meshgrid(*[x, y], indexing='ij'))", ("float32[3]", "float32[4]")),
                   Example("torch.stack(torch.meshgrid([x, y], indexing='xy'))", ("float32[3]", "float32[4]")),
                   Example("torch.meshgrid((x, y))[1]", ("float32[3]", "float32[4]")),
                   Example("torch.stack(torch.meshgrid([t * 2 for t in (x, y)]))", ("float32[3]", "float32[4]")),
                   Example("torch.stack(torch.meshgrid(list((x, y)), indexing='ij'))", ("float32[3]", "float32[4]"),
                           expect="tensor_sequence"),
                   Example("torch.meshgrid(x)[0]", ("float32[3]",)))),
    Rule("torch.stack", "tensors, dim=0, out=None", _stack, layout=Layout("stack", dims=("dim",), tensors=("tensors",)),
         examples=(Example("torch.stack([x, y], dim=1)", ("float32[2,3]", "float32[2,3]")),
                   Example("torch.stack([x, y], dim=2)", ("float32[2,3,4,4]", "float32[2,3,4,4]"), channels_last=True))),
    Rule("torch.zeros", _SZ, creation("zeros"), layout=SOURCE,
         examples=(Example("torch.zeros(2, 3) + x", X2[:1] and ("float32[2,3]",)), Example("torch.zeros((4,))", ()),
                   Example("torch.zeros(size=(2, 3), device=None, dtype=torch.int32)", ()))),
    Rule("torch.ones", _SZ, creation("ones"), layout=SOURCE,
         examples=(Example("torch.ones(3, 4, dtype=torch.float32) * x", X2),)),
    Rule("torch.empty", _SZ, creation("zeros"), layout=SOURCE, note="empty is zeros: JAX has no uninitialised memory",
         examples=(Example("torch.empty(2, 3).shape[0] + x", X2),)),
    Rule("torch.full", "size, fill_value, dtype=None, device=None, requires_grad=False, layout=None, out=None",
         creation("full", "size"), layout=SOURCE, examples=(Example("torch.full((2, 3), 0.5)", ()),)),
    Rule("torch.zeros_like", _LIKE, like("zeros_like"), layout=ELEMENTWISE, examples=(Example("torch.zeros_like(x)", X2),)),
    Rule("torch.ones_like", _LIKE, like("ones_like"), layout=ELEMENTWISE, examples=(Example("torch.ones_like(x)", X2),)),
    Rule("torch.empty_like", _LIKE, like("zeros_like"), layout=ELEMENTWISE,
         examples=(Example("torch.empty_like(x).shape[1]", X2),)),
    Rule("torch.full_like", "input, fill_value, dtype=None, device=None, requires_grad=False", like("full_like"),
         layout=ELEMENTWISE, examples=(Example("torch.full_like(x, 2.0)", X2),)),
    Rule("torch.randn", _SZ, random("randn"), layout=SOURCE,
         examples=(Example("torch.randn(3, 4)", (), compare="shape", where="init"),
                   Example("torch.randn(200, 300) * 0.5 + 1.0", (), compare="stats", where="init"))),
    Rule("torch.rand", _SZ, random("rand"), layout=SOURCE,
         examples=(Example("torch.rand(3, 4)", (), compare="shape", where="init"),
                   Example("torch.rand((200, 300), dtype=torch.float32)", (), compare="stats", where="init"))),
    Rule("torch.all", "input, dim=None, keepdim=False", methods.reduction("jnp.all"),
         layout=dims("dim", keepdim="keepdim", reduces=True), examples=(Example("torch.all(x > 0, 1)", X2),)),
    Rule("torch.any", "input, dim=None, keepdim=False", methods.reduction("jnp.any"),
         layout=dims("dim", keepdim="keepdim", reduces=True), examples=(Example("torch.any(x > 0)", X2),)),
    Rule("torch.arange", "start, end=None, step=None, dtype=None, device=None, requires_grad=False, out=None, layout=None",
         _arange, layout=SOURCE,
         examples=(Example("torch.arange(5)", ()), Example("torch.arange(1, 10, 2)", ()),
                   Example("torch.arange(0.0, 1.0, 0.25)", ()))),
    Rule("torch.linspace", "start, end, steps, dtype=None, device=None, requires_grad=False, out=None, layout=None",
         lambda a, ctx: f"jnp.linspace({a.src('start')}, {a.src('end')}, {a.src('steps')})", layout=SOURCE,
         examples=(Example("torch.linspace(0, 1, 5)", ()),)),
    Rule("torch.eye", "n, m=None, dtype=None, device=None, requires_grad=False, out=None, layout=None",
         lambda a, ctx: f"jnp.eye({a.src('n')}{', ' + a.src('m') if a.given('m') else ''})", layout=SOURCE,
         examples=(Example("torch.eye(3)", ()),)),
    Rule("torch.tensor", "data, dtype=None, device=None, requires_grad=False, pin_memory=False", _tensor,
         layout=SOURCE, examples=(Example("torch.tensor([1.0, 2.0, 3.0])", ()),)),
    Rule("torch.as_tensor", "data, dtype=None, device=None", _tensor, layout=SOURCE,
         examples=(Example("torch.as_tensor([[1, 2], [3, 4]])", ()),)),
    Rule("torch.from_numpy", "data", _tensor, layout=SOURCE, examples=(Example("torch.from_numpy(np.ones(3))", ()),)),
    Rule("torch.einsum", "equation, *operands", _einsum, layout=Layout("plain", tensors=("operands",)),
         examples=(Example("torch.einsum('bij,bjk->bik', x, y)", ("float32[2,3,4]", "float32[2,4,5]")),
                   Example("torch.einsum('...d,d->...', x, y)", ("float32[2,3,4]", "float32[4]")),
                   Example("torch.einsum('bchw,bc->bhw', x, x.mean((2, 3)))", ("float32[2,3,4,5]",),
                           channels_last=True))),
    Rule("torch.mm", "input, mat2", lambda a, ctx: f"({a.src('input')} @ {a.src('mat2')})",
         layout=Layout("plain", tensors=("input", "mat2")),
         examples=(Example("torch.mm(x, y)", ("float32[3,4]", "float32[4,2]")),)),
    Rule("torch.where", "condition, input=None, other=None", _where,
         layout=Layout("elementwise", tensors=("condition", "input", "other")),
         examples=(Example("torch.where(x > 0, x, y)", ("float32[3,4]", "float32[3,4]")),)),
    Rule("torch.maximum", "input, other", lambda a, ctx: f"jnp.maximum({a.src('input')}, {a.src('other')})",
         layout=Layout("elementwise", tensors=("input", "other")),
         examples=(Example("torch.maximum(x, y)", ("float32[3,4]", "float32[3,4]")),)),
    Rule("torch.minimum", "input, other", lambda a, ctx: f"jnp.minimum({a.src('input')}, {a.src('other')})",
         layout=Layout("elementwise", tensors=("input", "other")),
         examples=(Example("torch.minimum(x, y)", ("float32[3,4]", "float32[3,4]")),)),
    Rule("torch.split", "tensor, split_size_or_sections, dim=0", _split, layout=dims("dim", tensors=("tensor",)),
         returns_tuple=True,
         examples=(Example("torch.split(x, 3)[3]", ("float32[10,2]",)), Example("torch.split(x, [2, 5, 3])[1]", ("float32[10,2]",)))),
    Rule("torch.erf", "input", lambda a, ctx: f"jax.scipy.special.erf({a.src('input')})", layout=ELEMENTWISE,
         examples=(Example("torch.erf(x)", X2),)),
    Rule("torch.logsumexp", "input, dim, keepdim=False",
         lambda a, ctx: f"jax.scipy.special.logsumexp({a.src('input')}, axis={a.src('dim')}"
                        f"{''.join(', ' + k for k in methods._keep(a))})",
         layout=dims("dim", keepdim="keepdim", reduces=True), examples=(Example("torch.logsumexp(x, 1)", X2),)),
    Rule("torch.outer", "input, vec2", lambda a, ctx: f"jnp.outer({a.src('input')}, {a.src('vec2')})",
         layout=Layout("plain", tensors=("input", "vec2")), examples=(Example("torch.outer(x, y)", ("float32[3]", "float32[4]")),)),
    Rule("torch.broadcast_to", "input, size", lambda a, ctx: f"jnp.broadcast_to({a.src('input')}, {a.src('size')})",
         layout=PLAIN, examples=(Example("torch.broadcast_to(x, (3, 4))", ("float32[1,4]",)),)),
    Rule("torch.is_tensor", "obj", lambda a, ctx: f"isinstance({a.src('obj')}, jax.Array)", layout=Layout("other"),
         examples=(Example("torch.is_tensor(x)", X2),)),
] + [
    # the legacy typed constructors: data (DistilBERT's torch.FloatTensor(np.sin(...))) or
    # sizes (uninitialised in torch: zeros, as torch.empty), told apart at run time
    Rule(f"torch.{k}Tensor", "*args", _typed_tensor(dtype), layout=SOURCE, helpers=("typed_tensor",),
         examples=examples)
    for k, dtype, examples in (
        ("Float", "jnp.float32", (Example("torch.FloatTensor(np.sin(np.arange(12.0).reshape(3, 4))) + x", X2),
                                  Example("torch.FloatTensor(3, 4).shape[1] + x", X2),
                                  Example("torch.FloatTensor([[1, 2, 3, 4]]) * x", X2))),
        ("Long", "jnp.int32", (Example("x[:, torch.LongTensor([2, 0])]", X2),)),
        ("Bool", "jnp.bool_", (Example("x * torch.BoolTensor([True, False, True, False])", X2),)),
        # torch.Tensor called is torch.FloatTensor (``nn.Parameter(torch.Tensor(out, in))``,
        # then an initialiser); as a value (isinstance, annotations) it is jax.Array (constants.py)
        ("", "jnp.float32", (Example("torch.Tensor(3, 4).shape[1] + x", X2),
                             Example("torch.Tensor([[1, 2, 3, 4]]) * x", X2)))) + tuple(
        (k, dtype, (Example(f"x * torch.{k}Tensor([[1, 0, 1, 1]])", X2),))
        for k, dtype in (("Double", "jnp.float64"), ("Half", "jnp.float16"), ("BFloat16", "jnp.bfloat16"),
                         ("Int", "jnp.int32"), ("Short", "jnp.int16"), ("Char", "jnp.int8"), ("Byte", "jnp.uint8")))
]

# creation and gradient methods beside the functions above (methods.py holds the rest)
METHODS = [
    methods.m("new_empty", "*size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False",
              methods._new("zeros"), Layout("source"), note="empty is zeros: JAX has no uninitialised memory",
              examples=(Example("x.new_empty((0, 1, 3, 4))", X2), Example("x.new_empty(2, 5)", X2, compare="shape"),
                        Example("x.new_empty([3], dtype=torch.int32)", X2, compare="shape"),
                        # stochastic depth's batch-only noise (translator/batch_noise.py)
                        # (torch's values are uninitialised memory: the shape is what is compared)
                        Example("x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)) + x", X2, compare="shape"))),
    # in place: the receiver rebound to its value cut from the graph
    methods.m("detach_", "", methods.inplace(methods.fn1("jax.lax.stop_gradient")), ELEMENTWISE,
              examples=(Example("(x * 2.0).detach_() + x", X2),)),
]
