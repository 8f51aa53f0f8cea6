"""Activation layers and their functional forms (nnx_facts §7).

Module rows become plain functions (or functools.partial), kept in place in
containers so indices do not move.
"""

from .base import ELEMENTWISE, NOT_CONSTANT, Example, Layout, Rule, Unsupported, dims, wmap
from .util import call, partial

X = ("float32[2,5,7]",)


def fn(target, **binds):
    """A stateless activation: `target`, binding torch args to jax kwargs.

    binds: jax_kwarg -> (torch_param, torch_default) ; bound only when the
    torch argument differs from its default.
    """

    def build(a, ctx):
        kws = []
        for jname, (tname, default) in binds.items():
            v = a.value(tname)  # not a literal: passed on, jax takes it at run time
            if a.given(tname) and (v is NOT_CONSTANT or v != default):
                kws.append(f"{jname}={a.src(tname)}")
        return partial(target, kws)

    return build


def applied(build_module):
    """Functional form: the module's function applied to `input`."""

    def build(a, ctx):
        f = build_module(a, ctx)
        return f"{f}({a.src('input')})"

    return build


def _gelu(a, ctx):
    approx = a.value("approximate")
    if approx is NOT_CONSTANT:
        # decided at run time (torch accepts only 'none' and 'tanh')
        return f"functools.partial(jax.nn.gelu, approximate=({a.src('approximate')} == 'tanh'))"
    if approx == "tanh":
        return "jax.nn.gelu"
    if approx != "none":
        raise Unsupported("T2N002", f"approximate={a.src('approximate')}")
    return "functools.partial(jax.nn.gelu, approximate=False)"


def _hardtanh(a, ctx):
    lo = a.src("min_val") if a.given("min_val") else "-1.0"
    hi = a.src("max_val") if a.given("max_val") else "1.0"
    return f"functools.partial(jnp.clip, min={lo}, max={hi})"


def _softplus(a, ctx):
    beta, thr = a.value("beta"), a.value("threshold")
    if beta is not NOT_CONSTANT and thr is not NOT_CONSTANT and beta == 1.0 and thr == 20.0:
        return "jax.nn.softplus"
    kws = []
    if a.given("beta"):
        kws.append(f"beta={a.src('beta')}")
    if a.given("threshold"):
        kws.append(f"threshold={a.src('threshold')}")
    return partial(ctx.helper("softplus"), kws)


def _softmax(target):
    def build(a, ctx):
        if a.value("dim") is None:  # absent or None; a variable is passed on
            raise Unsupported("T2N002", "softmax without dim (torch's legacy implicit dim)")
        return f"functools.partial({target}, axis={a.src('dim')})"
    return build


def _prelu(a, ctx):
    n = a.value("num_parameters")  # not a literal: the per-channel helper (1 channel works too)
    init = a.src("init") if a.given("init") else "0.25"
    if n is not NOT_CONSTANT and n == 1:
        return f"nnx.PReLU(negative_slope_init={init})"
    return call(ctx.helper("ChannelPReLU"), [a.src("num_parameters"), f"init={init}"])


def _threshold(a, ctx):
    return (f"(lambda x: jnp.where(x > {a.src('threshold')}, x, {a.src('value')}))")


def module(name, params, build, examples, layout=ELEMENTWISE, **kw):
    return Rule(f"torch.nn.{name}", params, build, layout=layout, layer=True, examples=examples, **kw)


def functional(name, params, build, examples, layout=Layout("elementwise", tensors=("input",)), **kw):
    return Rule(f"torch.nn.functional.{name}", params, build, layout=layout, examples=examples, **kw)


_IP = "inplace=False"

RULES = [
    module("ReLU", _IP, fn("jax.nn.relu"), (Example("nn.ReLU()", X, expect="jax.nn.relu"),
                                               Example("nn.ReLU(inplace=True)", X))),
    module("ReLU6", _IP, fn("jax.nn.relu6"), (Example("nn.ReLU6()", ("float32[40]:-10:10",)),)),
    module("GELU", "approximate='none'", _gelu, (Example("nn.GELU()", X, expect="approximate=False"),
                                                 Example("nn.GELU(approximate='tanh')", X))),
    module("SiLU", _IP, fn("jax.nn.silu"), (Example("nn.SiLU()", X),)),
    module("Sigmoid", "", fn("jax.nn.sigmoid"), (Example("nn.Sigmoid()", X),)),
    module("Tanh", "", fn("jnp.tanh"), (Example("nn.Tanh()", X),)),
    module("LeakyReLU", "negative_slope=0.01, inplace=False",
           fn("jax.nn.leaky_relu", negative_slope=("negative_slope", 0.01)),
           (Example("nn.LeakyReLU()", X), Example("nn.LeakyReLU(0.2)", X, expect="negative_slope=0.2"))),
    module("ELU", "alpha=1.0, inplace=False", fn("jax.nn.elu", alpha=("alpha", 1.0)),
           (Example("nn.ELU()", X), Example("nn.ELU(alpha=0.5)", X))),
    module("CELU", "alpha=1.0, inplace=False", fn("jax.nn.celu", alpha=("alpha", 1.0)), (Example("nn.CELU(0.7)", X),)),
    module("SELU", _IP, fn("jax.nn.selu"), (Example("nn.SELU()", X),)),
    module("Hardswish", _IP, fn("jax.nn.hard_swish"), (Example("nn.Hardswish()", ("float32[50]:-5:5",)),)),
    module("Hardsigmoid", _IP, fn("jax.nn.hard_sigmoid"), (Example("nn.Hardsigmoid()", ("float32[50]:-5:5",)),)),
    module("Hardtanh", "min_val=-1.0, max_val=1.0, inplace=False", _hardtanh,
           (Example("nn.Hardtanh()", X), Example("nn.Hardtanh(-2.0, 3.0)", ("float32[50]:-5:5",)))),
    module("Mish", _IP, fn("jax.nn.mish"), (Example("nn.Mish()", X),)),
    module("Softplus", "beta=1.0, threshold=20.0", _softplus,
           (Example("nn.Softplus()", X), Example("nn.Softplus(beta=2, threshold=5)", ("float32[60]:-6:6",)))),
    module("Softsign", "", fn("jax.nn.soft_sign"), (Example("nn.Softsign()", X),)),
    module("LogSigmoid", "", fn("jax.nn.log_sigmoid"), (Example("nn.LogSigmoid()", X),)),
    module("Tanhshrink", "", lambda a, ctx: "(lambda x: x - jnp.tanh(x))", (Example("nn.Tanhshrink()", X),)),
    module("Threshold", "threshold, value, inplace=False", _threshold, (Example("nn.Threshold(0.1, 20.0)", X),)),
    module("Softmax", "dim=None", _softmax("jax.nn.softmax"), (Example("nn.Softmax(dim=-1)", X),),
           layout=Layout("plain")),
    module("LogSoftmax", "dim=None", _softmax("jax.nn.log_softmax"), (Example("nn.LogSoftmax(dim=1)", X),),
           layout=Layout("plain")),
    module("PReLU", "num_parameters=1, init=0.25, device=None, dtype=None", _prelu,
           (Example("nn.PReLU()", X, expect="negative_slope_init=0.25"),
            Example("nn.PReLU(num_parameters=6, init=0.1)", ("float32[2,6,4,4]",), channels_last=True)),
           layout=Layout("channel"),
           weights=(wmap("nnx.PReLU", ("weight", "negative_slope", "scalar")),
                    wmap("ChannelPReLU", ("weight", "weight")))),
    # functional forms
    functional("relu", "input, inplace=False", lambda a, ctx: f"jax.nn.relu({a.src('input')})",
               (Example("F.relu(x)", X),)),
    functional("relu6", "input, inplace=False", lambda a, ctx: f"jax.nn.relu6({a.src('input')})",
               (Example("F.relu6(x)", ("float32[40]:-10:10",)),)),
    functional("gelu", "input, approximate='none'", applied(_gelu),
               (Example("F.gelu(x)", X), Example("F.gelu(x, approximate='tanh')", X))),
    functional("silu", "input, inplace=False", lambda a, ctx: f"jax.nn.silu({a.src('input')})", (Example("F.silu(x)", X),)),
    functional("sigmoid", "input", lambda a, ctx: f"jax.nn.sigmoid({a.src('input')})", (Example("F.sigmoid(x)", X),)),
    functional("tanh", "input", lambda a, ctx: f"jnp.tanh({a.src('input')})", (Example("F.tanh(x)", X),)),
    functional("leaky_relu", "input, negative_slope=0.01, inplace=False",
               applied(fn("jax.nn.leaky_relu", negative_slope=("negative_slope", 0.01))),
               (Example("F.leaky_relu(x, 0.1)", X),)),
    functional("elu", "input, alpha=1.0, inplace=False", applied(fn("jax.nn.elu", alpha=("alpha", 1.0))),
               (Example("F.elu(x)", X),)),
    functional("selu", "input, inplace=False", lambda a, ctx: f"jax.nn.selu({a.src('input')})", (Example("F.selu(x)", X),)),
    functional("hardswish", "input, inplace=False", lambda a, ctx: f"jax.nn.hard_swish({a.src('input')})",
               (Example("F.hardswish(x)", ("float32[50]:-5:5",)),)),
    functional("hardsigmoid", "input, inplace=False", lambda a, ctx: f"jax.nn.hard_sigmoid({a.src('input')})",
               (Example("F.hardsigmoid(x)", ("float32[50]:-5:5",)),)),
    functional("hardtanh", "input, min_val=-1.0, max_val=1.0, inplace=False", applied(_hardtanh),
               (Example("F.hardtanh(x, -0.5, 0.5)", X),)),
    functional("mish", "input, inplace=False", lambda a, ctx: f"jax.nn.mish({a.src('input')})", (Example("F.mish(x)", X),)),
    functional("softplus", "input, beta=1.0, threshold=20.0", applied(_softplus),
               (Example("F.softplus(x)", X), Example("F.softplus(x, beta=2.0, threshold=4.0)", X))),
    functional("logsigmoid", "input", lambda a, ctx: f"jax.nn.log_sigmoid({a.src('input')})",
               (Example("F.logsigmoid(x)", X),)),
    functional("softmax", "input, dim=None, _stacklevel=3, dtype=None",
               lambda a, ctx: f"jax.nn.softmax({a.src('input')}, axis={a.src('dim')})",
               (Example("F.softmax(x, dim=-1)", X), Example("F.softmax(x, dim=1)", ("float32[2,4,5,5]",),
                                                             channels_last=True, expect="axis=-1")),
               layout=dims("dim")),
    functional("log_softmax", "input, dim=None, _stacklevel=3, dtype=None",
               lambda a, ctx: f"jax.nn.log_softmax({a.src('input')}, axis={a.src('dim')})",
               (Example("F.log_softmax(x, 1)", X),), layout=dims("dim")),
    functional("glu", "input, dim=-1", lambda a, ctx: f"jax.nn.glu({a.src('input')}, axis={a.src('dim')})",
               (Example("F.glu(x, dim=1)", ("float32[2,6,3]",)),), layout=dims("dim")),
]
