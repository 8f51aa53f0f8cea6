"""torch.nn.functional ops other than activations and pooling."""

from .base import ELEMENTWISE, NOT_CONSTANT, PLAIN, Canonical, Example, Layout, Rule, Unsupported, dims, spatial
from .util import ntuple


def _linear(a, ctx):
    out = f"{a.src('input')} @ {a.src('weight')}.T"
    if a.given("bias") and a.src("bias") != "None":
        b = a.src("bias")
        # a bias read off an attribute may be None (register_parameter("bias", None))
        out += f" + {b}" if a.is_lit("bias") or not _may_be_none(b) else f" + ({b} if {b} is not None else 0)"
    return f"({out})"


def _may_be_none(src: str) -> bool:
    """A bias given as a name or an attribute (``self.bias``), read from a dict
    (``kw.get("bias", None)``, kwarg_splats.expanded) or chosen with None
    (``self.bias[:n] if self.bias is not None else None``, pytorchcv's OctConv):
    it may hold None."""
    import ast

    if src.replace(".", "").replace("_", "").isalnum() or (".get(" in src and src.endswith(")")):
        return True
    try:
        node = ast.parse(src.strip(), mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, ast.IfExp) and any(isinstance(b, ast.Constant) and b.value is None
                                               for b in (node.body, node.orelse))


_JNP_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _tuple_items(src: str):
    """The element sources of a tuple or list display (``(pw // 2, pw - pw // 2)``), or None."""
    import ast

    try:
        node = ast.parse(src, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, (ast.Tuple, ast.List)) or any(isinstance(e, ast.Starred) for e in node.elts):
        return None
    return [ast.get_source_segment(src, e) for e in node.elts]


def _pad(a, ctx):
    mode = a.value("mode")
    value = a.src("value") if a.given("value") and a.src("value") != "None" else None
    pads = a.value("pad")
    if ctx.perm is not None:
        # a channels-last input: place torch's (last dim first) pairs on the physical axes;
        # a mode that is not a literal goes to the helper (in torch's order), which reads it at run time
        literal = isinstance(pads, (tuple, list)) and all(isinstance(p, int) for p in pads)
        items = [repr(p) for p in pads] if literal else _tuple_items(a.src("pad"))
        cropping = literal and any(p < 0 for p in pads)
        if (items is None and mode is not NOT_CONSTANT) or (cropping and mode == "constant"):
            # pairs known at run time (SPT's `F.pad(x, shift)` over a tuple of shifts), or
            # negative ones (torch crops; jnp.pad refuses them): the helper places them on
            # the physical axes
            parts = [a.src("input"), a.src("pad")] + ([f"mode={a.src('mode')}"] if a.given("mode") else [])
            parts += [f"value={value}"] if value else []
            return f"{ctx.helper('pad')}({', '.join(parts)}, perm={tuple(ctx.perm)!r})"
        if mode is NOT_CONSTANT or items is None or len(items) % 2 or mode not in _JNP_MODES:
            raise Canonical()
        rank = len(ctx.perm)
        logical = [("0", "0")] * rank
        for i in range(0, len(items), 2):
            logical[rank - 1 - i // 2] = (items[i], items[i + 1])
        widths = [logical[ctx.perm[i]] for i in range(rank)]
        if literal and any(int(lo) < 0 or int(hi) < 0 for lo, hi in widths):
            raise Canonical()  # torch crops; computed widths (timm's pad_same) are never negative
        jmode = _JNP_MODES[mode]
        extra = f", constant_values={value}" if value and jmode == "constant" else ""
        text = "(" + ", ".join(f"({lo}, {hi})" for lo, hi in widths) + ")"
        return f"jnp.pad({a.src('input')}, {text}, mode={jmode!r}{extra})"
    parts = [a.src("input"), a.src("pad")]
    if a.given("mode"):
        parts.append(f"mode={a.src('mode')}")
    if value:
        parts.append(f"value={value}")
    return f"{ctx.helper('pad')}({', '.join(parts)})"


def _normalize(a, ctx):
    x = a.src("input")
    p = a.src("p") if a.given("p") else "2.0"
    d = a.src("dim") if a.given("dim") else "1"
    eps = a.src("eps") if a.given("eps") else "1e-12"
    ord_ = "" if p in ("2", "2.0") else f", ord={p}"
    return f"({x} / jnp.maximum(jnp.linalg.norm({x}{ord_}, axis={d}, keepdims=True), {eps}))"


def _dropout(a, ctx):
    t, p = a.value("training"), a.value("p")  # not literals: decided at run time
    if t is False or (p is not NOT_CONSTANT and p == 0):
        return a.src("input")
    # the module keeps the rngs it was built with (self.rngs) for this
    rngs = ctx.module_rngs()
    det = "False" if not a.given("training") else f"not ({a.src('training')})"
    return f"{ctx.helper('dropout')}({a.src('input')}, {a.src('p') if a.given('p') else '0.5'}, {det}, {rngs})"


def _embedding(a, ctx):
    return f"jnp.take({a.src('weight')}, {a.src('input')}, axis=0)"


def _one_hot(a, ctx):
    n = a.value("num_classes")  # not a literal: passed on (jax needs it static, as an int)
    if n is not NOT_CONSTANT and n == -1:
        raise Unsupported("T2N005", "one_hot without num_classes has a data-dependent shape")
    return f"jax.nn.one_hot({a.src('input')}, {a.src('num_classes')}, dtype=jnp.int32)"


def _conv(nd):
    def build(a, ctx):
        s = ntuple(a, "stride", nd, ctx)
        d = ntuple(a, "dilation", nd, ctx)
        p = a.value("padding")  # not a literal: conv_padding at run time
        if isinstance(p, str):
            pad = repr(p.upper())
        elif isinstance(p, int):
            pad = repr(((p, p),) * nd)
        elif isinstance(p, (tuple, list)):
            pad = repr(tuple((i, i) for i in p))
        else:
            pad = f"{ctx.helper('conv_padding')}({a.src('padding')}, {nd})"
        spatial_ = "DHW"[3 - nd:]
        dn = (f"N{spatial_}C", f"OI{spatial_}", f"N{spatial_}C")
        out = (f"jax.lax.conv_general_dilated({a.src('input')}, {a.src('weight')}, {s}, {pad}, rhs_dilation={d}, "
               f"dimension_numbers={dn}, feature_group_count={a.src('groups')})")
        if a.given("bias") and a.src("bias") != "None":
            b = a.src("bias")
            # a bias read off an attribute or a parameter may be None (a Conv built with bias=False)
            out = f"({out} + {b})" if a.is_lit("bias") or not _may_be_none(b) else f"({out} + ({b} if {b} is not None else 0))"
        return out
    return build


def f(name, params, build, layout, examples, **kw):
    qualified = "torch.utils.checkpoint.checkpoint" if name == "checkpoint" else f"torch.nn.functional.{name}"
    return Rule(qualified, params, build, layout=layout, examples=examples, **kw)


def _layer_norm(a, ctx):
    parts = [a.src("input"), a.src("normalized_shape")]
    for name in ("weight", "bias"):
        parts.append(a.src(name) if a.given(name) else "None")
    parts.append(a.src("eps"))
    return f"{ctx.helper('layer_norm')}({', '.join(parts)})"


def _group_norm(a, ctx):
    # the channel axis: last for a channels-last input, torch's 1 otherwise
    parts = [a.src(n) for n in ("input", "num_groups", "weight", "bias", "eps")]
    if ctx.perm is not None:
        if tuple(ctx.perm) != (0,) + tuple(range(2, len(ctx.perm))) + (1,):
            raise Canonical()
        parts.append("axis=-1")
    elif getattr(ctx, "channels_last_any", False):
        parts.append("axis=-1")
    return f"{ctx.helper('group_norm')}({', '.join(parts)})"


def _batch_norm(a, ctx):
    # the channel axis: last for a channels-last input, torch's 1 otherwise
    parts = [a.src(n) for n in ("input", "running_mean", "running_var")]
    parts += [f"{n}={a.src(n)}" for n in ("weight", "bias", "training", "momentum", "eps") if a.given(n)]
    if ctx.perm is not None:
        parts.append("axis=-1")
    return f"{ctx.helper('batch_norm')}({', '.join(parts)})"


RULES = [
    # running statistics in eval; batch statistics in training, updating running ones held in Variables
    f("batch_norm", "input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, "
                    "eps=1e-05", _batch_norm, Layout("aware", tensors=("input", "running_mean", "running_var",
                                                                      "weight", "bias")),
      (Example("F.batch_norm(x, y, z.abs() + 0.5, w, y * 0.3, False, 0.1, 1e-3)",
               ("float32[2,3,4,4]", "float32[3]", "float32[3]", "float32[3]"), channels_last=True,
               expect="axis=-1"),
       Example("F.batch_norm(x, y, z.abs() + 0.5)", ("float32[4,3]", "float32[3]", "float32[3]")),
       Example("F.batch_norm(x, None, None, training=True)", ("float32[2,3,5]",)))),
    # over the trailing dims of torch's order (biased variance, as torch)
    f("group_norm", "input, num_groups, weight=None, bias=None, eps=1e-05",
      _group_norm, Layout("aware", tensors=("input", "weight", "bias")),
      (Example("F.group_norm(x, 2, y, y * 0.5 + 1.0, 1e-5)", ("float32[2,6,4,4]", "float32[6]"), channels_last=True),
       Example("F.group_norm(x, 3)", ("float32[2,6,5]",)),
       Example("F.group_norm(x, 2)", ("float32[3,4]",)))),
    f("layer_norm", "input, normalized_shape, weight=None, bias=None, eps=1e-05", _layer_norm,
      Layout("plain", tensors=("input", "weight", "bias")),
      (Example("F.layer_norm(x, (8,))", ("float32[2,3,8]",)),
       Example("F.layer_norm(x, [4, 8], y, z, 1e-6)", ("float32[2,4,8]", "float32[4,8]", "float32[4,8]")),
       Example("F.layer_norm(x, y.shape, y, y * 0.5, 1e-5)", ("float32[2,5,8]", "float32[8]")),
       Example("F.layer_norm(x.permute(0, 2, 3, 1), (3,)).permute(0, 3, 1, 2)", ("float32[2,3,4,4]",),
               channels_last=True))),
    f("linear", "input, weight, bias=None", _linear, Layout("plain", tensors=("input", "weight", "bias")),
      (Example("F.linear(x, y)", ("float32[2,4]", "float32[3,4]")),
       Example("F.linear(x, y, y[:, 0])", ("float32[2,4]", "float32[3,4]")))),
    f("pad", "input, pad, mode='constant', value=None", _pad, Layout("aware"),
      (Example("F.pad(x, (1, 2, 3, 4))", ("float32[2,3,4,5]",)),
       # widths computed at run time, on a channels-last input (timm's pad_same)
       Example("F.pad(x, (x.shape[-1] // 4, 1, 0, x.shape[-2] // 3), value=-1.0)", ("float32[2,3,6,8]",),
               channels_last=True, expect="jnp.pad("),
       Example("F.pad(x, (1, 2, 3, 4), value=1.5)", ("float32[2,3,4,5]",), channels_last=True),
       # pairs known at run time on a channels-last input, the channels padded too (6 widths)
       Example("F.pad(x, tuple(range(6)), value=0.5)", ("float32[2,3,4,5]",), channels_last=True,
               expect="perm=(0, 2, 3, 1)"),
       # a shift: one side padded, the other cropped (vit-pytorch's shifted patch tokens)
       Example("F.pad(x, (1, -1, 0, 0))", ("float32[2,3,4,5]",), channels_last=True,
               expect="perm=(0, 2, 3, 1)"),
       Example("F.pad(x, (1, 1, 2, 0), mode='reflect')", ("float32[2,3,4,5]",), channels_last=True),
       Example("F.pad(x, (0, 1), mode='replicate')", ("float32[2,3,4]",)),
       Example("F.pad(x, (-1, 1))", ("float32[2,3,4]",)))),
    f("normalize", "input, p=2.0, dim=1, eps=1e-12, out=None", _normalize, dims("dim"),
      (Example("F.normalize(x, dim=-1)", ("float32[3,4]",)), Example("F.normalize(x, dim=1)", ("float32[2,3,4,4]",),
                                                                   channels_last=True))),
    f("dropout", "input, p=0.5, training=True, inplace=False", _dropout, ELEMENTWISE,
      (Example("F.dropout(x, 0.3, training=False)", ("float32[3,4]",)),
       Example("F.dropout(x, 0.3, training=self.training)", ("float32[3,4]",)))),
    f("checkpoint", "function, *args, use_reentrant=None, context_fn=None, determinism_check='default', "
                    "debug=False, preserve_rng_state=True",
      lambda a, ctx: f"{a.src('function')}({', '.join(a.star)})", ELEMENTWISE,
      (Example("torch.utils.checkpoint.checkpoint(torch.sigmoid, x, use_reentrant=False)", ("float32[3,4]",)),),
      note="activation checkpointing only saves memory; the call is made directly (nnx.remat does the same)"),
    f("embedding", "input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False",
      _embedding, Layout("plain", tensors=("input", "weight")),
      (Example("F.embedding(x, y)", ("int32[2,5]:0:7", "float32[7,3]")),)),
    f("one_hot", "input, num_classes=-1", _one_hot, PLAIN, (Example("F.one_hot(x, 5)", ("int32[2,4]:0:5",)),)),
    f("conv1d", "input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1", _conv(1), spatial(3),
      (Example("F.conv1d(x, torch.ones(4, 3, 3))", ("float32[2,3,9]",)),)),
    f("conv2d", "input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1", _conv(2), spatial(4),
      (Example("F.conv2d(x, torch.ones(4, 3, 3, 3) * 0.1, torch.ones(4), stride=2, padding=1)", ("float32[2,3,8,8]",)),)),
]
