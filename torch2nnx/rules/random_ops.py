"""Random functions: draws from an nnx.Rngs stream, never a global generator.

In ``__init__`` the constructor's ``rngs`` (its ``params`` stream); elsewhere the
module's own Rngs (its ``sample`` stream; a plain function gains an ``rngs``
parameter). The numbers differ from torch's; the examples compare distributions
(moments and range of a large draw)."""

from .base import ELEMENTWISE, SOURCE, Example, Layout, Rule, Unsupported
from .methods import _no_generator, inplace
from .util import call


def random_key(ctx) -> str:
    """A fresh key for a draw (see the module's docstring)."""
    if ctx.rngs_available:
        return f"{ctx.rngs}.params()"
    return f"{ctx.module_rngs()}.sample()"


def _dtype(a, default=None):
    return a.src("dtype") if a.given("dtype") and a.src("dtype") != "None" else default


def _drawn(helper, parts, a, ctx):
    """A call of a runtime draw, ``dtype=`` passed on where given."""
    if _dtype(a):
        parts.append(f"dtype={_dtype(a)}")
    return call(ctx.helper(helper), parts)


def _bounds(a, star):
    """torch's randint overloads: (high,) or (low, high), or low=/high= keywords."""
    if a.given("high"):
        if star:
            raise Unsupported("T2N002", "randint bounds given both by position and by keyword")
        return (a.src("low") if a.given("low") else "0"), a.src("high")
    if len(star) == 1:
        return "0", star[0]
    if len(star) == 2:
        return star[0], star[1]
    raise Unsupported("T2N002", f"randint with {len(star)} positional bounds")


def _randint(a, ctx):
    _no_generator(a)
    star = list(a.star)
    if a.given("size"):
        size = a.src("size")
    elif star:
        size = star.pop()
    else:
        raise Unsupported("T2N002", "torch.randint without a size")
    low, high = _bounds(a, star)
    return _drawn("random_randint", [random_key(ctx), low, high, size], a, ctx)


def _randint_like(a, ctx):
    _no_generator(a)
    x = a.src("input")
    low, high = _bounds(a, list(a.star))
    return call(ctx.helper("random_randint"), [random_key(ctx), low, high, f"{x}.shape",
                                                f"dtype={_dtype(a, f'{x}.dtype')}"])


def _randperm(a, ctx):
    _no_generator(a)
    out = f"jax.random.permutation({random_key(ctx)}, {a.src('n')})"
    return f"{out}.astype({_dtype(a)})" if _dtype(a) else out


def _like(fn):
    def build(a, ctx):
        _no_generator(a)
        x = a.src("input")
        return f"jax.random.{fn}({random_key(ctx)}, {x}.shape, {_dtype(a, f'{x}.dtype')})"
    return build


def _normal(a, ctx):
    _no_generator(a)
    parts = [random_key(ctx), a.src("mean"), a.src("std")]
    if a.given("size") and a.src("size") != "None":
        parts.append(f"size={a.src('size')}")
    return _drawn("random_normal", parts, a, ctx)


def _poisson(a, ctx):
    _no_generator(a)
    x = a.src("input")
    return f"jax.random.poisson({random_key(ctx)}, {x}, {x}.shape).astype({x}.dtype)"


def _bernoulli(a, ctx):
    """torch.bernoulli(input): 1 with the probability the input holds; with ``p``:
    with probability p, in the input's shape and dtype."""
    _no_generator(a)
    x = a.src("input")
    if a.given("p") and a.src("p") != "None":
        return f"jax.random.bernoulli({random_key(ctx)}, {a.src('p')}, {x}.shape).astype({x}.dtype)"
    return f"jax.random.bernoulli({random_key(ctx)}, {x}).astype({x}.dtype)"


# in-place fills of the receiver with a draw of its shape and dtype
def _fill(draw):
    def build(a, ctx):
        _no_generator(a)
        x = a.src("input")
        return draw(a, f"{random_key(ctx)}", x)
    return inplace(build)


def _exponential(a, key, x):
    return f"jax.random.exponential({key}, {x}.shape, {x}.dtype) / {a.src('lambd')}"


def _log_normal(a, key, x):
    return f"jnp.exp({a.src('mean')} + {a.src('std')} * jax.random.normal({key}, {x}.shape, {x}.dtype))"


def _geometric(a, key, x):
    return f"jax.random.geometric({key}, {a.src('p')}, {x}.shape).astype({x}.dtype)"


def _random_(a, key, x):
    # torch: from=0, to=None is [0, 2**mantissa] for floats: only an explicit range here
    if not a.given("to") or a.src("to") == "None":
        if not a.given("from"):
            raise Unsupported("T2N002", "x.random_() without a range: torch's default range depends on the dtype")
        low, high = "0", a.src("from")  # random_(to): [0, to)
    else:
        low, high = a.src("from"), a.src("to")
    return f"jax.random.randint({key}, {x}.shape, {low}, {high}).astype({x}.dtype)"


def _gumbel_softmax(a, ctx):
    parts = [random_key(ctx), a.src("logits")]
    parts += [f"{p}={a.src(p)}" for p in ("tau", "hard", "dim") if a.given(p)]
    return call(ctx.helper("gumbel_softmax"), parts)


def _beta(a, ctx):
    if a.given("validate_args") and a.src("validate_args") not in ("None", "False"):
        raise Unsupported("T2N002", "Beta(validate_args=True): arguments are not validated")
    return call(ctx.helper("Beta"), [a.src("concentration1"), a.src("concentration0"), f"key={random_key(ctx)}"])


_SZ = "*args, size=None, low=None, high=None, generator=None, dtype=None, device=None, requires_grad=False, " \
      "layout=None, pin_memory=False, out=None"
_LIKE = "input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None, generator=None"
BIG = ("float32[200,300]",)
STATS = dict(compare="stats")

RULES = [
    Rule("torch.randint", _SZ, _randint, layout=SOURCE,
         examples=(Example("torch.randint(0, 10, (200, 300))", (), where="init", **STATS),
                   Example("torch.randint(5, (200, 300)) * 1.0", (), **STATS),
                   Example("torch.randint(-3, 3, size=(200, 300), dtype=torch.float32)", (), **STATS),
                   Example("torch.randint(low=2, high=7, size=(200, 300))", (), where="init", **STATS))),
    Rule("torch.randint_like", "input, *args, low=None, high=None, dtype=None, layout=None, device=None, "
         "requires_grad=False, memory_format=None, generator=None", _randint_like, layout=ELEMENTWISE,
         examples=(Example("torch.randint_like(x, 10)", BIG, **STATS),
                   Example("torch.randint_like(x, -4, 4, dtype=torch.int32) * 1.0", BIG, **STATS))),
    Rule("torch.randperm", "n, *, generator=None, out=None, dtype=None, layout=None, device=None, "
         "requires_grad=False, pin_memory=False", _randperm, layout=SOURCE,
         examples=(Example("torch.randperm(1000) * 1.0", (), **STATS),
                   # a permutation: sorted, it is arange
                   Example("torch.randperm(50).sort()[0]", ()),
                   Example("torch.randperm(40, dtype=torch.float32).sort()[0]", (), where="init"))),
    Rule("torch.rand_like", _LIKE, _like("uniform"), layout=ELEMENTWISE,
         examples=(Example("torch.rand_like(x)", BIG, **STATS),)),
    Rule("torch.randn_like", _LIKE, _like("normal"), layout=ELEMENTWISE,
         examples=(Example("torch.randn_like(x) * 2.0 + 1.0", BIG, **STATS),
                   Example("torch.randn_like(x, dtype=torch.float32)", BIG, **STATS))),
    Rule("torch.normal", "mean, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None, "
         "device=None, requires_grad=False", _normal, layout=Layout("elementwise", tensors=("mean", "std")),
         examples=(Example("torch.normal(torch.full_like(x, 2.0), 3.0)", BIG, **STATS),
                   Example("torch.normal(x * 0.0 - 1.0, torch.ones_like(x) * 0.5)", BIG, **STATS),
                   Example("torch.normal(1.0, torch.ones_like(x))", BIG, **STATS),
                   Example("torch.normal(2.0, 3.0, size=(200, 300))", (), **STATS),
                   Example("torch.normal(0.0, 0.02, (200, 300))", (), where="init", **STATS))),
    Rule("torch.poisson", "input, generator=None", _poisson, layout=ELEMENTWISE,
         examples=(Example("torch.poisson(x)", ("float32[200,300]:1:5",), **STATS),)),
    Rule("torch.nn.functional.gumbel_softmax", "logits, tau=1, hard=False, eps=1e-10, dim=-1", _gumbel_softmax,
         layout=Layout("dims", dims=("dim",), tensors=("logits",)),
         examples=(Example("F.gumbel_softmax(x, tau=0.5)", BIG, **STATS),
                   # hard: the logit the one-hot picks (argmax of logits + noise) has the draw's distribution
                   Example("(F.gumbel_softmax(x, hard=True) * x).sum(-1)", ("float32[20000,5]",), **STATS),
                   Example("F.gumbel_softmax(x, tau=2.0, dim=0)", ("float32[4,20000]",), **STATS))),
    # a distribution object: draws split the key it was built with, densities are exact
    Rule("torch.distributions.Beta", "concentration1, concentration0, validate_args=None", _beta,
         layout=Layout("elementwise", tensors=("concentration1", "concentration0")),
         examples=(Example("torch.distributions.Beta(torch.full_like(x, 2.0), torch.full_like(x, 3.0)).sample()",
                           BIG, **STATS),
                   Example("torch.distributions.Beta(0.5, 0.5).sample((200, 300))", (), **STATS),
                   Example("torch.distributions.Beta(torch.full_like(x, 2.0), 3.0).log_prob(torch.sigmoid(x))",
                           ("float32[3,4]",)),
                   Example("torch.distributions.Beta(torch.sigmoid(x) + 0.5, 2.0).entropy() + "
                           "torch.distributions.Beta(x * 0.0 + 1.5, 2.5).mean", ("float32[3,4]",)))),
    Rule("torch.bernoulli", "input, p=None, *, generator=None, out=None", _bernoulli, layout=ELEMENTWISE,
         examples=(Example("torch.bernoulli(torch.sigmoid(x))", BIG, **STATS),
                   Example("torch.bernoulli(x, 0.3)", BIG, **STATS))),
]

METHODS = [
    Rule("Tensor.bernoulli", "input, p=None, *, generator=None", _bernoulli, layout=ELEMENTWISE,
         examples=(Example("torch.sigmoid(x).bernoulli()", BIG, **STATS), Example("x.bernoulli(0.2)", BIG, **STATS))),
    Rule("Tensor.exponential_", "input, lambd=1.0, *, generator=None", _fill(_exponential), layout=ELEMENTWISE,
         # exp(-lambd * E) is uniform on (0, 1): a bounded statistic of the unbounded draw
         examples=(Example("torch.exp(-x.exponential_())", BIG, **STATS),
                   Example("torch.exp(-2.5 * x.exponential_(2.5))", BIG, **STATS),
                   Example("torch.exp(-torch.empty_like(x).exponential_())", BIG, **STATS))),
    Rule("Tensor.log_normal_", "input, mean=1.0, std=2.0, *, generator=None", _fill(_log_normal), layout=ELEMENTWISE,
         examples=(Example("x.log_normal_(0.0, 0.25)", BIG, **STATS),)),
    Rule("Tensor.geometric_", "input, p, *, generator=None", _fill(_geometric), layout=ELEMENTWISE,
         # (1 - p) ** G: bounded, with the draw's distribution
         examples=(Example("0.7 ** x.geometric_(0.3)", BIG, **STATS),)),
    Rule("Tensor.random_", "input, from=0, to=None, *, generator=None", _fill(_random_), layout=ELEMENTWISE,
         examples=(Example("x.random_(-5, 5)", BIG, **STATS), Example("x.random_(8)", BIG, **STATS))),
]
