"""Convolutions: nnx.Conv / nnx.ConvTranspose, channels-last.

Traps handled (nnx_facts §3, §4): kernel_size always a tuple (an int builds a
1-d conv), explicit padding (nnx defaults to 'SAME'), reflect/circular padding
only where nnx's symmetric rule matches torch's, ConvTranspose with
transpose_kernel=True and explicit (d(k-1)-p, d(k-1)-p+output_padding) pads.
"""

from .base import NOT_CONSTANT, Example, Rule, Unsupported, spatial, wmap
from .util import call, maybe_ntuple, ntuple, use_flag

CONV_WEIGHTS = wmap("nnx.Conv", ("weight", "kernel", "conv_kernel"), ("bias", "bias", None, True))
CONVT_WEIGHTS = wmap("nnx.ConvTranspose", ("weight", "kernel", "conv_kernel"), ("bias", "bias", None, True))

_MODES = {"reflect": "REFLECT", "circular": "CIRCULAR"}


def _padding(a, nd, k, d, ctx):
    p = a.value("padding")
    if p is NOT_CONSTANT:
        p = None  # conv_padding at run time (zeros mode)
    mode = a.value("padding_mode")
    if mode is NOT_CONSTANT:
        if p == 0 or p == "valid" or p == (0,) * nd:
            mode = "zeros"  # no padding: the mode does not matter
        else:
            # nnx's padding rule picked when the layer is built (the helper raises where none matches)
            return (f"{ctx.helper('conv_padding_mode')}({a.src('padding')}, {a.src('padding_mode')}, "
                    f"{a.src('kernel_size')}, {a.src('dilation')}, {nd})")
    if not isinstance(mode, str):
        raise Unsupported("T2N002", f"padding_mode={a.src('padding_mode')} must be a literal")
    if mode != "zeros":
        if mode not in _MODES:
            raise Unsupported("T2N002", f"padding_mode='{mode}' is not supported")
        if k is None or (d is None):
            raise Unsupported("T2N002", f"padding_mode='{mode}' needs literal kernel_size and dilation")
        eff = [di * (ki - 1) + 1 for ki, di in zip(k, d)]
        if p == "same" or (isinstance(p, (int, tuple, list)) and
                           tuple(p if isinstance(p, (tuple, list)) else (p,) * nd) == tuple((e - 1) // 2 for e in eff)
                           and all(e % 2 == 1 for e in eff)):
            return repr(_MODES[mode])
        raise Unsupported("T2N002", f"padding_mode='{mode}' with padding={a.src('padding')} "
                                    "(nnx pads ((k-1)//2, k//2) only)")
    if p == "same":
        return "'SAME'"
    if p == "valid" or p == 0:
        return "'VALID'"
    if isinstance(p, int):
        return repr(((p, p),) * nd)
    if isinstance(p, (tuple, list)) and len(p) == nd and all(isinstance(i, int) for i in p):
        return repr(tuple((i, i) for i in p))
    return f"{ctx.helper('conv_padding')}({a.src('padding')}, {nd})"


def conv(nd):
    def build(a, ctx):
        k_src, k = maybe_ntuple(a, "kernel_size", nd, ctx)
        d_src, d = maybe_ntuple(a, "dilation", nd, ctx)
        parts = [a.src("in_channels"), a.src("out_channels"), f"kernel_size={k_src}"]
        stride = a.value("stride")
        if stride is NOT_CONSTANT or stride not in (1, (1,) * nd):
            # nnx takes an int or a tuple, like torch (only kernel_size must be a tuple)
            parts.append(f"strides={ntuple(a, 'stride', nd, ctx) if a.is_lit('stride') else a.src('stride')}")
        parts.append(f"padding={_padding(a, nd, k, d, ctx)}")
        if a.given("dilation") and d != (1,) * nd:
            parts.append(f"kernel_dilation={d_src}")
        groups = a.value("groups")
        if groups is NOT_CONSTANT or groups != 1:
            parts.append(f"feature_group_count={a.src('groups')}")
        use_flag(parts, "use_bias", a, "bias")
        parts.append(f"rngs={ctx.rngs}")
        return call("nnx.Conv", parts)
    return build


def conv_transpose(nd):
    def build(a, ctx):
        if a.const("groups") != 1:
            raise Unsupported("T2N002", "groups != 1: nnx.ConvTranspose has no feature_group_count")
        if a.const("padding_mode") != "zeros":
            raise Unsupported("T2N002", "padding_mode other than 'zeros'")
        k_src, k = maybe_ntuple(a, "kernel_size", nd, ctx)
        s_src, s = maybe_ntuple(a, "stride", nd, ctx)
        _, p = maybe_ntuple(a, "padding", nd, ctx)
        _, op = maybe_ntuple(a, "output_padding", nd, ctx)
        d_src, d = maybe_ntuple(a, "dilation", nd, ctx)
        parts = [a.src("in_channels"), a.src("out_channels"), f"kernel_size={k_src}"]
        parts.append(f"strides={s_src}")
        if None in (k, p, op, d):
            pads = (f"{ctx.helper('conv_transpose_padding')}({a.src('kernel_size')}, {a.src('padding')}, "
                    f"{a.src('output_padding')}, {a.src('dilation')}, {nd})")
        else:
            pads = repr(tuple((di * (ki - 1) - pi, di * (ki - 1) - pi + oi) for ki, pi, oi, di in zip(k, p, op, d)))
        parts.append(f"padding={pads}")
        if a.given("dilation") and d != (1,) * nd:
            parts.append(f"kernel_dilation={d_src}")
        use_flag(parts, "use_bias", a, "bias")
        parts.append("transpose_kernel=True")
        parts.append(f"rngs={ctx.rngs}")
        return call("nnx.ConvTranspose", parts)
    return build


# kernel_size: nnx.Conv holds torch's tuple under the same name (the builds pass ntuple(kernel_size, n))
CONV_ATTRS = (("in_channels", "in_features"), ("out_channels", "out_features"), ("groups", "feature_group_count"),
              ("kernel_size", "kernel_size"),
              # torch holds n-tuples; nnx.Conv what it was given (an int, a tuple, None)
              ("stride", "ntuple({layer}.strides or 1, len({layer}.kernel_size))"),
              ("dilation", "ntuple({layer}.kernel_dilation or 1, len({layer}.kernel_size))"))


def conv_init_attrs(nd: int) -> tuple:
    """torch's Conv stores kernel_size, stride, dilation (and padding unless a string) as n-tuples."""
    return (("stride", f"ntuple(stride, {nd})"), ("dilation", f"ntuple(dilation, {nd})"),
            ("padding", f"padding if isinstance(padding, str) else ntuple(padding, {nd})"))
CONVT_ATTRS = (("in_channels", "in_features"), ("out_channels", "out_features"), ("kernel_size", "kernel_size"),
               ("stride", "ntuple({layer}.strides or 1, len({layer}.kernel_size))"),
               ("dilation", "ntuple({layer}.kernel_dilation or 1, len({layer}.kernel_size))"))

_CONV_SIG = ("in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, "
             "padding_mode='zeros', device=None, dtype=None")
_CONVT_SIG = ("in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, "
              "bias=True, dilation=1, padding_mode='zeros', device=None, dtype=None")

RULES = [
    Rule("torch.nn.Conv1d", _CONV_SIG, conv(1), layout=spatial(3), layer=True, stateful=True, weights=CONV_WEIGHTS, attrs=CONV_ATTRS,
         init_attrs=conv_init_attrs(1),
         kwargs_adapter=("nnx.Conv", "conv_kwargs", 1, ("in_channels", "out_channels")),
         examples=(
             Example("nn.Conv1d(3, 5, 3)", ("float32[2,3,12]",), expect="kernel_size=(3,)"),
             Example("nn.Conv1d(4, 6, 5, stride=2, padding=2, dilation=1, groups=2)", ("float32[2,4,16]",)),
             Example("nn.Conv1d(3, 4, 4, padding='same', dilation=3)", ("float32[2,3,20]",)),
         )),
    Rule("torch.nn.Conv2d", _CONV_SIG, conv(2), layout=spatial(4), layer=True, stateful=True, weights=CONV_WEIGHTS, attrs=CONV_ATTRS,
         init_attrs=conv_init_attrs(2),
         kwargs_adapter=("nnx.Conv", "conv_kwargs", 2, ("in_channels", "out_channels")),
         examples=(
             Example("nn.Conv2d(3, 4, kernel_size=2, padding='valid')", ("float32[1,3,6,6]",),
                     expect="nnx.Conv(3, 4, kernel_size=(2, 2), padding='VALID', rngs=rngs)"),
             Example("nn.Conv2d(3, 8, 3)", ("float32[2,3,9,9]",), expect="padding='VALID'"),
             Example("nn.Conv2d(3, 8, 3, stride=2, padding=1)", ("float32[2,3,10,10]",)),
             Example("nn.Conv2d(3, 8, 7, 2, 3, bias=False)", ("float32[2,3,16,16]",)),
             Example("nn.Conv2d(3, 6, (3, 5), padding=(1, 2), dilation=(2, 1))", ("float32[2,3,11,11]",)),
             Example("nn.Conv2d(4, 8, 3, padding=1, groups=4)", ("float32[2,4,8,8]",)),
             Example("nn.Conv2d(3, 4, 4, padding='same')", ("float32[2,3,9,9]",)),
             Example("nn.Conv2d(3, 4, 3, padding=1, padding_mode='reflect')", ("float32[2,3,8,8]",)),
             Example("nn.Conv2d(3, 4, 3, padding=1, padding_mode='circular')", ("float32[2,3,8,8]",)),
             Example("nn.Conv2d(3, 4, bias=False, **{'kernel_size': 3, 'stride': 2, 'padding': 1})",
                     ("float32[2,3,9,9]",), expect="conv_kwargs("),
         )),
    Rule("torch.nn.Conv3d", _CONV_SIG, conv(3), layout=spatial(5), layer=True, stateful=True, weights=CONV_WEIGHTS, attrs=CONV_ATTRS,
         init_attrs=conv_init_attrs(3),
         kwargs_adapter=("nnx.Conv", "conv_kwargs", 3, ("in_channels", "out_channels")),
         examples=(Example("nn.Conv3d(2, 4, 3, padding=1, stride=(1, 2, 2))", ("float32[2,2,5,6,6]",)),)),
    Rule("torch.nn.ConvTranspose1d", _CONVT_SIG, conv_transpose(1), layout=spatial(3), layer=True, stateful=True,
         weights=CONVT_WEIGHTS, attrs=CONVT_ATTRS, helpers=(),
         examples=(Example("nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1)", ("float32[2,3,7]",)),)),
    Rule("torch.nn.ConvTranspose2d", _CONVT_SIG, conv_transpose(2), layout=spatial(4), layer=True, stateful=True,
         weights=CONVT_WEIGHTS, attrs=CONVT_ATTRS,
         examples=(
             Example("nn.ConvTranspose2d(3, 4, kernel_size=2, padding=0)", ("float32[1,3,6,6]",),
                     expect="transpose_kernel=True"),
             Example("nn.ConvTranspose2d(3, 4, 4, 2, 1)", ("float32[2,3,5,5]",)),
             Example("nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1, bias=False)",
                     ("float32[2,3,5,5]",)),
             Example("nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1, dilation=2)",
                     ("float32[2,3,5,5]",)),
         )),
    Rule("torch.nn.ConvTranspose3d", _CONVT_SIG, conv_transpose(3), layout=spatial(5), layer=True, stateful=True,
         weights=CONVT_WEIGHTS, attrs=CONVT_ATTRS,
         examples=(Example("nn.ConvTranspose3d(2, 3, 4, 2, 1)", ("float32[1,2,3,4,4]",)),)),
]
