"""torch.nn.init: re-initialisation of NNX Variables with the same distribution.

``nn.init.kaiming_normal_(m.weight, mode="fan_out")`` becomes
``m.kernel.set_value(variance_scaling(...)(rngs.params(), m.kernel.shape))``.
JAX's initializers read fans from NNX kernels ``(*kernel, in, out)`` the way
torch reads them from ``(out, in, *kernel)``, so the same scale gives the same
distribution. Needs ``rngs``: only inside layer-building code.
"""


import libcst as cst

from .base import NOT_CONSTANT, OTHER, Example, Layout, Rule, Unsupported
from .place_writes import is_place, keeps_rank, write_through

_GAINS = {"linear": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "sigmoid": 1.0, "tanh": 25.0 / 9.0,
          "relu": 2.0, "selu": 9.0 / 16.0}  # squared gains (torch.nn.init.calculate_gain ** 2)


def _key(ctx):
    if not ctx.rngs_available:
        raise Unsupported("T2N005", "re-initialisation needs an RNG: only inside __init__ or a layer builder")
    return f"{ctx.rngs}.params()"


def _set(a, value: str, ctx) -> str:
    """The tensor's new value written into it: ``set_value`` on a Variable; through
    a slice or a view (``nn.init.ones_(fc.bias[n:])``), the whole place's new value
    with the slice replaced (the row's value has the slice's shape)."""
    t = a.src("tensor")
    if is_place(t):
        return f"{t}.set_value({value})"
    written = write_through(cst.parse_expression(t), value, ctx.helper)
    if written is None:
        raise Unsupported("T2N005", f"in-place init of {t}: not a parameter or a slice of one")
    return written[1]


def _get(a) -> str:
    """The tensor's value as an array (a slice already is one)."""
    t = a.src("tensor")
    return f"{t}.get_value()" if is_place(t) else t


def _fans_kept(a):
    """JAX reads fans from an NNX kernel's axes as torch does from its weight's: true
    of the kernel and of slices that keep its axes, not of a view in torch's order
    or a slice that drops axes."""
    t = a.src("tensor")
    if not is_place(t) and not keeps_rank(t):
        raise Unsupported("T2N002", f"fans of {t}: a view or a slice that drops axes")


def _fan_axes(a) -> str:
    """Keywords placing torch's fans on the NNX array: JAX reads fan-in on axis -2, as
    torch does on a kernel's (``(*kernel, in, out)``); an Embed's table keeps torch's
    ``(num, features)``, whose fan-in (torch's size(1)) is axis -1."""
    return ", in_axis=-1, out_axis=-2" if a.src("tensor").endswith(".embedding") else ""


def _gain2(a, ctx, name="nonlinearity"):
    """The squared gain's source: a number for literals, else torch's
    calculate_gain (squared) at run time."""
    nl, slope = a.value(name), a.value("a")
    if nl is NOT_CONSTANT or (nl == "leaky_relu" and slope is NOT_CONSTANT):
        return f"{ctx.helper('calculate_gain2')}({a.src(name)}, {a.src('a')})"
    if nl == "leaky_relu":
        if not isinstance(slope, (int, float)):
            raise Unsupported("T2N002", "a non-literal negative slope")
        return repr(2.0 / (1 + slope ** 2))
    if nl not in _GAINS:
        raise Unsupported("T2N002", f"nonlinearity={a.src(name)}")
    return repr(_GAINS[nl])


def kaiming(distribution):
    def build(a, ctx):
        mode = a.value("mode")
        if mode is NOT_CONSTANT:
            # jax's variance_scaling takes torch's two modes by the same names, at run time
            mode_src = a.src("mode")
        elif mode in ("fan_in", "fan_out"):
            mode_src = f'"{mode}"'
        else:
            raise Unsupported("T2N002", f"mode={a.src('mode')}")
        _fans_kept(a)
        init = f'jax.nn.initializers.variance_scaling({_gain2(a, ctx)}, {mode_src}, "{distribution}"{_fan_axes(a)})'
        return _set(a, f"{init}({_key(ctx)}, {a.src('tensor')}.shape)", ctx)
    return build


def xavier(distribution):
    def build(a, ctx):
        gain = a.value("gain")
        if gain is NOT_CONSTANT:
            scale = f"float({a.src('gain')}) ** 2"  # squared at run time
        elif isinstance(gain, (int, float)):
            scale = repr(float(gain) ** 2)
        else:
            raise Unsupported("T2N002", f"gain={a.src('gain')}")
        _fans_kept(a)
        init = f'jax.nn.initializers.variance_scaling({scale}, "fan_avg", "{distribution}")'
        return _set(a, f"{init}({_key(ctx)}, {a.src('tensor')}.shape)", ctx)
    return build


def _normal(a, ctx):
    mean = a.src("mean") if a.given("mean") else "0.0"
    std = a.src("std") if a.given("std") else "1.0"
    return _set(a, f"{mean} + {std} * jax.random.normal({_key(ctx)}, {a.src('tensor')}.shape)", ctx)


def _uniform(a, ctx):
    lo = a.src("a") if a.given("a") else "0.0"
    hi = a.src("b") if a.given("b") else "1.0"
    return _set(a, f"jax.random.uniform({_key(ctx)}, {a.src('tensor')}.shape, minval={lo}, maxval={hi})", ctx)


def _trunc_normal(a, ctx):
    # torch truncates at absolute a, b; jax at standard-normal bounds
    mean = a.src("mean") if a.given("mean") else "0.0"
    std = a.src("std") if a.given("std") else "1.0"
    lo = a.src("a") if a.given("a") else "-2.0"
    hi = a.src("b") if a.given("b") else "2.0"
    key = _key(ctx)
    t = a.src("tensor")
    return _set(a, f"{mean} + {std} * jax.random.truncated_normal({key}, ({lo} - {mean}) / {std}, "
                   f"({hi} - {mean}) / {std}, {t}.shape)", ctx)


def _constant(value):
    def build(a, ctx):
        v = a.src("val") if value is None else value
        return _set(a, f"jnp.full_like({_get(a)}, {v})", ctx)
    return build


def variance_scaling(mode, distribution):
    """transformers.initialization's lecun_normal_ and default_flax_embed_init_: torch's
    formula on torch's fans (torch_variance_scaling; its truncation differs from JAX's)."""
    def build(a, ctx):
        _fans_kept(a)
        t = a.src("tensor")
        value = (f'{ctx.helper("torch_variance_scaling")}({_key(ctx)}, {t}.shape, "{mode}", "{distribution}"'
                 f'{_fan_axes(a)})')
        return _set(a, value, ctx)
    return build


def _fans(a, ctx):
    return f"{ctx.helper('torch_fan_in_and_fan_out')}({a.src('tensor')})"


def row(name, params, build, examples):
    return Rule(f"torch.nn.init.{name}", "tensor, " + params if params else "tensor", build, layout=OTHER,
                examples=examples)


def ex(stmt, layer="nn.Conv2d(64, 128, 3)"):
    return Example(stmt, (), compare="stats", where=layer)


_KAIMING = "a=0, mode='fan_in', nonlinearity='leaky_relu', generator=None"

RULES = [
    row("kaiming_normal_", _KAIMING, kaiming("normal"),
        (ex("nn.init.kaiming_normal_(self.layer.weight, mode='fan_out', nonlinearity='relu')"),
         ex("nn.init.kaiming_normal_(self.layer.weight)", "nn.Linear(300, 200)"))),
    row("kaiming_uniform_", _KAIMING, kaiming("uniform"),
        (ex("nn.init.kaiming_uniform_(self.layer.weight, mode='fan_out', nonlinearity='sigmoid')"),
         ex("nn.init.kaiming_uniform_(self.layer.weight, a=math.sqrt(5))".replace("math.sqrt(5)", "2.0")))),
    row("xavier_uniform_", "gain=1.0, generator=None", xavier("uniform"),
        (ex("nn.init.xavier_uniform_(self.layer.weight)", "nn.Linear(300, 200)"),)),
    row("xavier_normal_", "gain=1.0, generator=None", xavier("normal"),
        (ex("nn.init.xavier_normal_(self.layer.weight, gain=2.0)"),)),
    row("normal_", "mean=0.0, std=1.0, generator=None", _normal,
        (ex("nn.init.normal_(self.layer.weight, 0, 0.01)", "nn.Linear(300, 200)"),)),
    row("uniform_", "a=0.0, b=1.0, generator=None", _uniform,
        (ex("nn.init.uniform_(self.layer.weight, -0.1, 0.3)", "nn.Linear(300, 200)"),)),
    row("trunc_normal_", "mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None", _trunc_normal,
        (ex("nn.init.trunc_normal_(self.layer.weight, mean=0.0, std=0.01, a=-2, b=2)"),
         ex("nn.init.trunc_normal_(self.layer.weight, std=1.0, a=-0.5, b=1.5)", "nn.Linear(300, 200)"))),
    row("constant_", "val", _constant(None),
        (ex("nn.init.constant_(self.layer.weight, 0.5)", "nn.BatchNorm2d(64)"),)),
    row("zeros_", "", _constant("0.0"), (ex("nn.init.zeros_(self.layer.bias)", "nn.Linear(30, 20)"),)),
    row("ones_", "", _constant("1.0"), (ex("nn.init.ones_(self.layer.weight)", "nn.LayerNorm(20)"),)),
    # torch's fans of a weight read in torch's order (a kernel's layout is its tag's, or
    # the Variable's torch_perm where it was handed on)
    Rule("torch.nn.init._calculate_fan_in_and_fan_out", "tensor", _fans,
         layout=Layout("plain", tensors=("tensor",), result="other"),
         examples=(Example("x * torch.nn.init._calculate_fan_in_and_fan_out(x)[0] / 100.0", ("float32[5,3,4,2]",),
                           expect="torch_fan_in_and_fan_out(x)"),),
         note="torch's (fan_in, fan_out) from torch's axes of the weight"),
]
