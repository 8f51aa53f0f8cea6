"""torch.special: jax.scipy.special (and jnp) under the same names and meanings,
mostly elementwise; generated from a table, a few rows by hand."""

from .base import ELEMENTWISE, Example, Layout, Rule, dims

X = ("float32[3,4]",)
POS = ("float32[3,4]:0.5:4",)  # the gamma family's domain
UNIT = ("float32[3,4]:0.05:0.95",)  # probabilities
TWO = Layout("elementwise", tensors=("input", "other"))

# torch.special name -> (JAX function, inputs of the example)
ONE_ARG = {
    "erf": ("jax.scipy.special.erf", X),
    "erfc": ("jax.scipy.special.erfc", X),
    "erfinv": ("jax.scipy.special.erfinv", ("float32[3,4]:-0.9:0.9",)),
    "erfcx": ("jax.scipy.special.erfcx", POS),
    "expit": ("jax.scipy.special.expit", X),
    "gammaln": ("jax.scipy.special.gammaln", POS),
    "digamma": ("jax.scipy.special.digamma", POS),
    "psi": ("jax.scipy.special.digamma", POS),
    "i0": ("jax.scipy.special.i0", X),
    "i0e": ("jax.scipy.special.i0e", X),
    "i1": ("jax.scipy.special.i1", X),
    "i1e": ("jax.scipy.special.i1e", X),
    "ndtr": ("jax.scipy.special.ndtr", X),
    "ndtri": ("jax.scipy.special.ndtri", UNIT),
    "log_ndtr": ("jax.scipy.special.log_ndtr", X),
    "sinc": ("jnp.sinc", X),
    "entr": ("jax.scipy.special.entr", ("float32[3,4]:-0.5:2",)),
    "expm1": ("jnp.expm1", X),
    "exp2": ("jnp.exp2", X),
    "log1p": ("jnp.log1p", POS),
}

# (input, other) functions, broadcasting as torch's do
TWO_ARGS = {
    "xlogy": ("jax.scipy.special.xlogy", ("float32[3,4]", "float32[3,4]:0.1:3")),
    "xlog1py": ("jax.scipy.special.xlog1py", ("float32[3,4]", "float32[3,4]:0.1:3")),
    "zeta": ("jax.scipy.special.zeta", ("float32[3,4]:1.5:4", "float32[3,4]:0.5:3")),
    "gammainc": ("jax.scipy.special.gammainc", ("float32[3,4]:0.5:4", "float32[3,4]:0.1:5")),
    "gammaincc": ("jax.scipy.special.gammaincc", ("float32[3,4]:0.5:4", "float32[3,4]:0.1:5")),
}


def _one(fn):
    return lambda a, ctx: f"{fn}({a.src('input')})"


def _two(fn):
    return lambda a, ctx: f"{fn}({a.src('input')}, {a.src('other')})"


def _cast(a):
    x = a.src("input")
    return f"{x}.astype({a.src('dtype')})" if a.given("dtype") and a.src("dtype") != "None" else x


def _logit(a, ctx):
    x = a.src("input")
    if a.given("eps") and a.src("eps") != "None":  # torch clamps the input to [eps, 1 - eps]
        x = f"jnp.clip({x}, {a.src('eps')}, 1 - {a.src('eps')})"
    return f"jax.scipy.special.logit({x})"


def _softmax(fn):
    return lambda a, ctx: f"{fn}({_cast(a)}, axis={a.src('dim')})"


def _logsumexp(a, ctx):
    keep = f", keepdims={a.src('keepdim')}" if a.given("keepdim") else ""
    return f"jax.scipy.special.logsumexp({a.src('input')}, axis={a.src('dim')}{keep})"


def _round(a, ctx):
    # both round half to even
    decimals = f", decimals={a.src('decimals')}" if a.given("decimals") else ""
    return f"jnp.round({a.src('input')}{decimals})"


def _s(name):
    return f"torch.special.{name}"


RULES = [Rule(_s(n), "input, *, out=None", _one(fn), layout=ELEMENTWISE, examples=(Example(f"{_s(n)}(x)", xs),))
         for n, (fn, xs) in ONE_ARG.items()] + [
    Rule(_s(n), "input, other, *, out=None", _two(fn), layout=TWO,
         examples=(Example(f"{_s(n)}(x, y)", xs), Example(f"{_s(n)}(x, y[:1])", xs)))
    for n, (fn, xs) in TWO_ARGS.items()] + [
    Rule(_s("logit"), "input, eps=None, *, out=None", _logit, layout=ELEMENTWISE,
         examples=(Example("torch.special.logit(x)", UNIT), Example("torch.special.logit(x, eps=0.2)", UNIT))),
    Rule(_s("polygamma"), "n, input, *, out=None",
         lambda a, ctx: f"jax.scipy.special.polygamma({a.src('n')}, {a.src('input')})", layout=ELEMENTWISE,
         examples=(Example("torch.special.polygamma(1, x)", POS), Example("torch.special.polygamma(2, x)", POS))),
    Rule(_s("multigammaln"), "input, p, *, out=None",
         lambda a, ctx: f"jax.scipy.special.multigammaln({a.src('input')}, {a.src('p')})", layout=ELEMENTWISE,
         examples=(Example("torch.special.multigammaln(x, 3)", ("float32[3,4]:1.5:5",)),)),
    Rule(_s("softmax"), "input, dim, *, dtype=None", _softmax("jax.nn.softmax"), layout=dims("dim"),
         examples=(Example("torch.special.softmax(x, 1)", ("float32[2,3,4,4]",), channels_last=True),
                   Example("torch.special.softmax(x, dim=-1, dtype=torch.float32)", X))),
    Rule(_s("log_softmax"), "input, dim, *, dtype=None", _softmax("jax.nn.log_softmax"), layout=dims("dim"),
         examples=(Example("torch.special.log_softmax(x, 0)", X),)),
    Rule(_s("logsumexp"), "input, dim, keepdim=False, *, out=None", _logsumexp,
         layout=dims("dim", keepdim="keepdim", reduces=True),
         examples=(Example("torch.special.logsumexp(x, 1)", X), Example("torch.special.logsumexp(x, (0, 1), True)", X))),
    Rule(_s("round"), "input, *, decimals=0, out=None", _round, layout=ELEMENTWISE,
         examples=(Example("torch.special.round(x * 4)", X), Example("torch.special.round(x, decimals=2)", X))),
]
