"""torch math whose JAX counterpart takes the same arguments, generated from a table.

One line per API: torch name, jnp target, torch's parameters after ``input``,
layout kind, whether torch has it as a function and/or a Tensor method, and the
example's inputs. Each line becomes ``torch.<name>`` and ``Tensor.<name>`` rows
with their own examples (the parity tests in tests/test_rules.py).

Parameters: required ones are passed positionally, optional ones as keywords
only when given, under jnp's name (``dim>axis=None``: torch's ``dim`` is jnp's
``axis``; ``dim`` and ``keepdim`` are renamed by default); ``~name=...`` is
accepted and dropped (``argsort(stable=)``: jnp's sort is always stable, a
valid order for torch's unstable one). A target with ``{name}`` is a template
over the arguments' sources instead of a callable.

Layout kinds: ``unary``/``binary`` elementwise (the required parameters are the
other tensors); ``reduce`` (``dim``, ``keepdim``: the dims are remapped on a
channels-last input and removed); ``scan`` (``dim`` remapped, kept);
``plain`` (order matters: torch's order in); ``flag`` (a Python value out).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import ELEMENTWISE, Example, Layout, Rule, dims, parse_params

_RENAME = {"dim": "axis", "keepdim": "keepdims"}
F = "float32[3,4]"
F2 = (F, F)
POS = ("float32[3,4]:0.1:5",)
UNIT = ("float32[3,4]:-0.9:0.9",)
I2 = ("int32[3,4]:-20:20", "int32[3,4]:-20:20")
NZ = ("float32[3,4]:-5:5", "float32[3,4]:0.5:3")  # a divisor away from zero
X4 = ("float32[2,3,4,5]",)
# methods other objects have too (pandas' where/eq, a tracer's trace): translated
# only on a receiver known to be a tensor
AMBIGUOUS = {"where", "equal", "eq", "ne", "gt", "lt", "ge", "le", "trace"}


@dataclass(frozen=True)
class Op:
    name: str
    target: str
    params: str = ""
    kind: str = "unary"
    where: str = "fm"  # "f": torch.<name>, "m": Tensor.<name>, "fm": both
    inputs: tuple = (F,)
    args: str = ""  # the example's arguments after the input
    recv: str = "x"  # the example's input expression (isinf needs infinities)
    cl: str | None = None  # arguments of a channels-last example (dims rows)
    atol: float = 1e-4


def _unary(name, target, inputs=(F,), where="fm", **kw):
    return Op(name, target, "", "unary", where, inputs, **kw)


def _binary(name, target, inputs=F2, where="fm", other="other", **kw):
    return Op(name, target, other, "binary", where, inputs, "y", **kw)


TABLE = [
    # rounding and signs
    _unary("ceil", "jnp.ceil", ("float32[3,4]:-5:5",)),
    _unary("trunc", "jnp.trunc", ("float32[3,4]:-5:5",)),
    _unary("fix", "jnp.trunc", ("float32[3,4]:-5:5",)),
    _unary("frac", "jnp.modf({input})[0]", ("float32[3,4]:-5:5",)),  # sign of the input, as torch's
    _unary("sgn", "jnp.sign", ("float32[3,4]:-5:5",)),
    _unary("signbit", "jnp.signbit", ("float32[3,4]:-5:5",)),
    _unary("negative", "(-{input})"),
    _unary("positive", "{input}"),
    _unary("absolute", "jnp.abs"),
    # exponentials and logarithms
    _unary("exp2", "jnp.exp2"),
    _unary("expm1", "jnp.expm1"),
    _unary("log10", "jnp.log10", POS),
    # trigonometry
    _unary("tan", "jnp.tan", UNIT),
    _unary("sinh", "jnp.sinh"),
    _unary("cosh", "jnp.cosh"),
    _unary("asin", "jnp.arcsin", UNIT), _unary("arcsin", "jnp.arcsin", UNIT),
    _unary("acos", "jnp.arccos", UNIT), _unary("arccos", "jnp.arccos", UNIT),
    _unary("atan", "jnp.arctan"), _unary("arctan", "jnp.arctan"),
    _unary("asinh", "jnp.arcsinh"), _unary("arcsinh", "jnp.arcsinh"),
    _unary("acosh", "jnp.arccosh", ("float32[3,4]:1.1:5",)), _unary("arccosh", "jnp.arccosh", ("float32[3,4]:1.1:5",)),
    _unary("atanh", "jnp.arctanh", UNIT), _unary("arctanh", "jnp.arctanh", UNIT),
    _unary("deg2rad", "jnp.deg2rad"),
    _unary("rad2deg", "jnp.rad2deg"),
    _unary("sinc", "jnp.sinc"),  # both normalised: sin(pi x) / (pi x)
    # special functions
    _unary("erf", "jax.scipy.special.erf", where="m"),
    _unary("erfc", "jax.scipy.special.erfc"),
    _unary("lgamma", "jax.scipy.special.gammaln", POS),
    _unary("digamma", "jax.scipy.special.digamma", ("float32[3,4]:0.5:5",)),
    _unary("i0", "jax.scipy.special.i0"),
    Op("mvlgamma", "jax.scipy.special.multigammaln", "p", "unary", "fm", ("float32[3,4]:1:5",), "2"),
    # floating-point classes: torch's x / 0 gives the infinities and nans
    _unary("isinf", "jnp.isinf", recv="(x / (x > 0).float())"),
    _unary("isnan", "jnp.isnan", ("float32[3,4]:-1:1",), recv="(x / (x > 0).float()).log()"),
    _unary("isfinite", "jnp.isfinite", recv="(x / (x > 0).float())"),
    _unary("isreal", "jnp.isreal"),
    # jnp's default infinities are the dtype's largest values, as torch's
    Op("nan_to_num", "jnp.nan_to_num", "nan=0.0, posinf=None, neginf=None", "unary", "fm", ("float32[3,4]:-1:1",),
       "posinf=5.0", recv="(x.sign() / (x.abs() > 0.5).float())"),
    # two operands
    _binary("atan2", "jnp.arctan2"), _binary("arctan2", "jnp.arctan2"),
    _binary("xlogy", "jax.scipy.special.xlogy", ("float32[3,4]:-1:1", "float32[3,4]:0.1:5"),
            recv="(x * (x > 0).float())"),
    _binary("heaviside", "jnp.heaviside", other="values", recv="x.round()"),
    _binary("copysign", "jnp.copysign"),
    _binary("hypot", "jnp.hypot"),
    _binary("maximum", "jnp.maximum", where="m"),
    _binary("minimum", "jnp.minimum", where="m"),
    _binary("fmax", "jnp.fmax"),
    _binary("fmin", "jnp.fmin"),
    _binary("remainder", "jnp.remainder", NZ),  # the divisor's sign (Python's %), as torch's
    _binary("fmod", "jnp.fmod", NZ),  # the dividend's sign (C's fmod), as torch's
    _binary("floor_divide", "jnp.floor_divide", NZ),  # floors, as torch's since 1.13
    _binary("true_divide", "jnp.true_divide", NZ),
    _binary("multiply", "jnp.multiply"),
    _binary("float_power", "jnp.float_power", ("float32[3,4]:0.1:3", "float32[3,4]:-2:2"), other="exponent"),
    _binary("logaddexp", "jnp.logaddexp"),
    _binary("logaddexp2", "jnp.logaddexp2"),
    _binary("bitwise_and", "jnp.bitwise_and", I2),
    _binary("bitwise_or", "jnp.bitwise_or", I2),
    _binary("bitwise_xor", "jnp.bitwise_xor", I2),
    _unary("bitwise_not", "jnp.bitwise_not", ("int32[3,4]:-20:20",)),
    _binary("gcd", "jnp.gcd", I2),
    _binary("lcm", "jnp.lcm", ("int32[3,4]:1:30", "int32[3,4]:1:30")),
    Op("lerp", "({input} + {weight} * ({end} - {input}))", "end, weight", "binary", "fm", (F, F, "float32[3,4]:0:1"),
       "y, z"),
    # comparisons (a boolean result)
    *[_binary(n, f"jnp.{t}", ("float32[3,4]:-2:2", "float32[3,4]:-2:2"), recv="x.round()")
      for n, t in (("gt", "greater"), ("lt", "less"), ("ge", "greater_equal"), ("le", "less_equal"),
                   ("eq", "equal"), ("ne", "not_equal"), ("greater", "greater"), ("less", "less"),
                   ("greater_equal", "greater_equal"), ("less_equal", "less_equal"), ("not_equal", "not_equal"))],
    Op("isclose", "jnp.isclose", "other, rtol=1e-05, atol=1e-08, equal_nan=False", "binary", "fm",
       F2, "x + 1e-5 * y, rtol=0.0, atol=1e-5"),
    Op("allclose", "jnp.allclose", "other, rtol=1e-05, atol=1e-08, equal_nan=False", "flag", "fm",
       F2, "x + 1e-5 * y, atol=1e-4"),
    Op("equal", "jnp.array_equal", "other", "flag", "fm", (F, F), "y"),
    Op("clamp_min", "jnp.maximum({input}, {min})", "min", "unary", "fm", (F,), "0.1"),
    Op("clamp_max", "jnp.minimum({input}, {max})", "max", "unary", "fm", (F,), "0.1"),
    Op("addcdiv", "({input} + {value} * {tensor1} / {tensor2})", "tensor1, tensor2, *, value=1", "binary", "fm",
       (F, F, "float32[3,4]:0.5:3"), "y, z, value=0.5"),
    Op("where", "jnp.where({condition}, {input}, {other})", "condition, other", "binary", "m", F2, "x > 0, y"),
    # complex parts (a real input: angle is 0 or pi)
    _unary("conj", "jnp.conj"),
    _unary("angle", "jnp.angle", ("float32[3,4]:-5:5",)),
    _unary("real", "jnp.real", where="f"),
    _unary("imag", "jnp.imag", ("float32[3,4]",), where="f", recv="torch.fft.fft(x)"),
    # reductions and scans over dims
    Op("count_nonzero", "jnp.count_nonzero", "dim=None", "reduce", "fm", ("float32[3,4]:-1:1",), "1",
       recv="x.round()", cl="(2, 3)"),
    Op("nansum", "jnp.nansum", "dim=None, keepdim=False, *, dtype=None", "reduce", "fm", (F,), "1", cl="1"),
    Op("nanmean", "jnp.nanmean", "dim=None, keepdim=False, *, dtype=None", "reduce", "fm", (F,), "1",
       recv="(x / (x > 0).float()).log()", cl="1, keepdim=True"),
    Op("logsumexp", "jax.scipy.special.logsumexp", "dim, keepdim=False", "reduce", "m", (F,), "1",
       cl="(2, 3)"),
    Op("cumprod", "jnp.cumprod", "dim, *, dtype=None", "scan", "fm", ("float32[3,4]:0.5:1.5",), "1", cl="1"),
    # lax's scans take no negative axis
    Op("logcumsumexp", "jax.lax.cumlogsumexp({input}, axis={dim} % {input}.ndim)", "dim", "scan", "fm", (F,), "1",
       cl="1"),
    Op("argsort", "jnp.argsort", "dim=-1, descending=False, ~stable=False", "scan", "fm", (F,), "descending=True",
       cl="1"),
    Op("msort", "jnp.sort({input}, axis=0)", "", "plain", "fm", (F,)),
    # order-dependent: torch's order in
    Op("flipud", "jnp.flipud", "", "plain", "fm", (F,)),
    Op("fliplr", "jnp.fliplr", "", "plain", "fm", (F,)),
    Op("rot90", "jnp.rot90", "k=None, dims>axes=None", "plain", "fm", ("float32[2,3,4]",), "1, (1, 2)"),
    Op("ravel", "{input}.reshape(-1)", "", "plain", "fm", X4),
    Op("diag", "jnp.diag", "diagonal>k=0", "plain", "fm", (F,), "1"),
    Op("diagonal", "jnp.diagonal", "offset=0, dim1>axis1=0, dim2>axis2=1", "plain", "fm", ("float32[2,3,4]",),
       "1, 1, 2"),
    Op("trace", "jnp.trace", "", "plain", "fm", (F,)),
    Op("inner", "jnp.inner", "other", "plain", "fm", (F, "float32[5,4]"), "y"),
    Op("dot", "jnp.dot", "tensor", "plain", "fm", ("float32[4]", "float32[4]"), "y"),
    Op("vdot", "jnp.vdot", "other", "plain", "fm", ("float32[4]", "float32[4]"), "y"),
    Op("mv", "({input} @ {vec})", "vec", "plain", "fm", (F, "float32[4]"), "y"),
    Op("kron", "jnp.kron", "other", "plain", "fm", (F, "float32[2,3]"), "y"),
    Op("outer", "jnp.outer", "vec2", "plain", "m", ("float32[3]", "float32[4]"), "y"),
    Op("broadcast_to", "jnp.broadcast_to", "size", "plain", "m", ("float32[1,4]",), "(3, 4)"),
    Op("cov", "jnp.cov", "*, correction>ddof=1, fweights=None, aweights=None", "plain", "fm", ("float32[3,6]",),
       "correction=0"),
    Op("corrcoef", "jnp.corrcoef", "", "plain", "fm", ("float32[3,6]",)),
]


def _signature(op: Op):
    """(torch params for the row, {torch name: jnp name}, dropped names)."""
    parts, rename, dropped = [], dict(_RENAME), set()
    for p in (s.strip() for s in op.params.split(",") if s.strip()):
        if p.startswith("~"):
            p = p[1:]
            dropped.add(p.split("=")[0])
        elif ">" in p:
            torch_name, rest = p.split(">", 1)
            rename[torch_name] = rest.split("=")[0]
            p = torch_name + ("=" + rest.split("=", 1)[1] if "=" in rest else "")
        parts.append(p)
    return "input" + "".join(", " + p for p in parts), rename, dropped


def _build(op: Op, params: str, rename: dict, dropped: set):
    spec = [(n, k) for n, _, k in parse_params(params) if k in ("pos", "kwonly")]
    required = {n for n, d, k in parse_params(params) if k == "pos" and not isinstance(d, str)}

    def build(a, ctx):
        if "{" in op.target:
            return op.target.format(**{n: a.src(n) for n, _ in spec})
        out = [a.src("input")]
        for n, _ in spec[1:]:
            if n in required:
                out.append(a.src(n))
            elif n not in dropped and a.given(n) and a.src(n) != "None":
                out.append(f"{rename.get(n, n)}={a.src(n)}")
        return f"{op.target}({', '.join(out)})"
    return build


def _layout(op: Op, params: str) -> Layout:
    named = [n for n, d, k in parse_params(params) if k == "pos" and not isinstance(d, str)]
    if op.kind == "unary":
        return ELEMENTWISE
    if op.kind == "binary":
        return Layout("elementwise", tensors=tuple(named))
    if op.kind == "reduce":
        return dims("dim", keepdim="keepdim" if "keepdim" in params else None, reduces=True)
    if op.kind == "scan":
        return dims("dim")
    if op.kind == "flag":
        return Layout("other", tensors=tuple(named), result="other")
    return Layout("plain", tensors=tuple(named))


def _examples(op: Op, method: bool) -> tuple[Example, ...]:
    def call(args, recv):
        if method:
            return f"{recv}.{op.name}({args})"
        return f"torch.{op.name}({recv}{', ' + args if args else ''})"

    out = [Example(call(op.args, op.recv), op.inputs, atol=op.atol)]
    if op.cl is not None:
        out.append(Example(call(op.cl, op.recv), X4, channels_last=True, atol=op.atol))
    elif op.kind in ("unary", "binary") and all(s == F for s in op.inputs) and op.recv == "x":
        # elementwise on a channels-last input: the layout passes through
        out.append(Example(call(op.args, op.recv), X4 * len(op.inputs), channels_last=True, atol=op.atol))
    return tuple(out)


def _rows(method: bool) -> list[Rule]:
    out = []
    for op in TABLE:
        if ("m" if method else "f") not in op.where:
            continue
        params, rename, dropped = _signature(op)
        name = f"Tensor.{op.name}" if method else f"torch.{op.name}"
        out.append(Rule(name, params, _build(op, params, rename, dropped), layout=_layout(op, params),
                        examples=_examples(op, method), ambiguous=method and op.name in AMBIGUOUS))
    return out


RULES = _rows(method=False)
METHODS = _rows(method=True)
