"""Pooling, flatten, upsampling (nnx_facts §8). Channels-last, stateless:
module rows become functools.partial of jax functions or emitted helpers."""

from .base import NOT_CONSTANT, RESHAPE, Example, Layout, Rule, Unsupported, spatial
from .util import maybe_ntuple, ntuple, partial


def _stride(a, nd, ctx):
    # torch's stride defaults to the kernel size (nnx's to 1)
    stride = a.value("stride")
    if stride is None:
        return ntuple(a, "kernel_size", nd, ctx)
    if stride is NOT_CONSTANT:
        # torch code passes stride=None on (timm's create_pool2d): decided at run time
        return f"{ctx.helper('pool_stride')}({a.src('stride')}, {a.src('kernel_size')}, {nd})"
    return ntuple(a, "stride", nd, ctx)


def _pads(a, nd, ctx):
    _, p = maybe_ntuple(a, "padding", nd, ctx)
    if p is None:
        return None
    return repr(tuple((i, i) for i in p)) if any(p) else None


def _odd_padding(a, pads, nd) -> bool:
    """Padding that nnx's pools cannot take as given (not literal ints)."""
    p = a.value("padding")
    return pads is None and (p is NOT_CONSTANT or p not in (0, (0,) * nd))


def _helper_pool(a, ctx, helper: str, k: str, s: str, names) -> str:
    """The emitted helper with torch's own arguments (ceil_mode, dilation, ...)."""
    kws = [f"kernel_size={k}", f"stride={s}"] + [f"{n}={a.src(n)}" for n in names if a.given(n)]
    return partial(ctx.helper(helper), kws)


def _nnx_pool_kws(k: str, s: str, pads) -> list:
    return [f"window_shape={k}", f"strides={s}"] + ([f"padding={pads}"] if pads else [])


def max_pool(nd, functional=False):
    def build(a, ctx):
        k = ntuple(a, "kernel_size", nd, ctx)
        s = _stride(a, nd, ctx)
        if a.const("return_indices", absent=False) is not False:
            raise Unsupported("T2N002", "return_indices=True")
        ceil, dil = a.value("ceil_mode"), a.value("dilation")
        pads = _pads(a, nd, ctx)
        # the helper takes torch's arguments as they are: the path for those that are not literals
        if ceil is not False or dil is NOT_CONSTANT or dil not in (1, (1,) * nd) or _odd_padding(a, pads, nd):
            f = _helper_pool(a, ctx, "max_pool", k, s, ("padding", "dilation", "ceil_mode"))
        else:
            f = partial("nnx.max_pool", _nnx_pool_kws(k, s, pads))
        return f"{f}({a.src('input')})" if functional else f
    return build


def avg_pool(nd, functional=False):
    def build(a, ctx):
        k = ntuple(a, "kernel_size", nd, ctx)
        s = _stride(a, nd, ctx)
        ceil, div = a.value("ceil_mode"), a.value("divisor_override", absent=None)
        pads = _pads(a, nd, ctx)
        cip = a.value("count_include_pad")  # not a literal: nnx.avg_pool reads it at run time
        # the helper takes torch's arguments as they are: the path for those that are not literals
        if ceil is not False or div is not None or _odd_padding(a, pads, nd):
            f = _helper_pool(a, ctx, "avg_pool", k, s, ("padding", "ceil_mode", "count_include_pad",
                                                         "divisor_override"))
        else:
            kws = _nnx_pool_kws(k, s, pads)
            if pads and cip is not True:
                kws.append(f"count_include_pad={a.src('count_include_pad')}")
            f = partial("nnx.avg_pool", kws)
        return f"{f}({a.src('input')})" if functional else f
    return build


def adaptive(kind, nd, functional=False):
    def build(a, ctx):
        if a.const("return_indices", absent=False) is not False:
            raise Unsupported("T2N002", "return_indices=True")
        out = a.value("output_size")  # not a literal: the helper
        x = a.src("input") if functional else "x"
        if out is not NOT_CONSTANT and (
                out == 1 or (isinstance(out, (tuple, list)) and all(o == 1 for o in out) and len(out) == nd)):
            axes = tuple(range(1, nd + 1))
            body = f"jnp.{'mean' if kind == 'avg' else 'max'}({x}, axis={axes}, keepdims=True)"
        else:
            body = f"{ctx.helper('adaptive_' + kind + '_pool')}({x}, {a.src('output_size')})"
        return body if functional else f"(lambda x: {body})"
    return build


def _adaptive_layout(nd):
    def layout_of(a):
        out = a.value("output_size")
        one = out is not NOT_CONSTANT and (
            out == 1 or (isinstance(out, (tuple, list)) and len(out) == nd and all(o == 1 for o in out)))
        return Layout("spatial", rank=nd + 2, out_one=one)
    return layout_of


def _flatten(a, ctx):
    kws = []
    start, end = a.value("start_dim"), a.value("end_dim")  # not literals: passed on
    if start is NOT_CONSTANT or start != 1:
        kws.append(f"start_dim={a.src('start_dim')}")
    if end is NOT_CONSTANT or end != -1:
        kws.append(f"end_dim={a.src('end_dim')}")
    return partial(ctx.helper("flatten"), kws)


def _unflatten(a, ctx):
    return f"functools.partial({ctx.helper('unflatten')}, dim={a.src('dim')}, sizes={a.src('unflattened_size')})"


def _upsample(a, ctx, functional=False):
    mode = a.value("mode")  # not a literal: passed on, the helper picks the method at run time
    if mode is not NOT_CONSTANT and mode not in ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"):
        raise Unsupported("T2N005", f"mode={a.src('mode')}: no exact JAX equivalent")
    if a.const("recompute_scale_factor") not in (None, False):
        raise Unsupported("T2N002", "recompute_scale_factor=True")
    antialias = a.value("antialias", absent=False)  # not a literal: the helper decides at run time
    if antialias is not NOT_CONSTANT and antialias and mode is not NOT_CONSTANT and mode not in ("bilinear", "bicubic"):
        raise Unsupported("T2N002", f"antialias=True with mode={a.src('mode')} (torch antialiases only bilinear and bicubic)")
    kws = []
    for name in ("size", "scale_factor", "mode", "align_corners", "antialias"):
        if name == "antialias" and antialias is False:
            continue
        if a.given(name):
            kws.append(f"{name}={a.src(name)}")
    # antialiasing (or a flag that may ask for it) has a helper of its own: plain
    # resizes do not carry its filters
    helper = ctx.helper("interpolate" if antialias is False else "interpolate_antialiased")
    if functional:
        return f"{helper}({', '.join([a.src('input')] + kws)})"
    return partial(helper, kws)


_MP = "kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False"
_AP = "kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None"
_AP1 = "kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True"
# F.max_poolNd's order differs from nn.MaxPoolNd's: ceil_mode comes before return_indices
_FMP = "input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False"


def _upsample_layout(a):
    """Upsample works on 1-, 2- and 3-d inputs: the mode or size tells which."""
    mode = a.value("mode")  # not a literal: the rank comes from the input
    rank = None if mode is NOT_CONSTANT else {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}.get(mode)
    for name in ("size", "scale_factor"):
        v = a.value(name)
        if isinstance(v, (tuple, list)):
            rank = len(v) + 2
    return spatial(rank) if rank else None


# torch's pools store stride=kernel_size when stride is None (AvgPool1d also
# makes kernel_size, stride and padding 1-tuples)
_POOL_ATTRS = (("stride", "stride if stride is not None else kernel_size"),)
_AP1_ATTRS = (("kernel_size", "ntuple(kernel_size, 1)"),
              ("stride", "ntuple(stride if stride is not None else kernel_size, 1)"),
              ("padding", "ntuple(padding, 1)"))


def layer(name, params, build, examples, layout, **kw):
    return Rule(f"torch.nn.{name}", params, build, layout=layout, layer=True, examples=examples, **kw)


def func(name, params, build, examples, layout, **kw):
    return Rule(f"torch.nn.functional.{name}", params, build, layout=layout, examples=examples, **kw)


I4 = ("float32[2,3,11,11]",)
I3 = ("float32[2,3,13]",)

RULES = [
    layer("MaxPool1d", _MP, max_pool(1), (Example("nn.MaxPool1d(3, 2)", I3),
                                          Example("nn.MaxPool1d(2, ceil_mode=True)", I3)), spatial(3), init_attrs=_POOL_ATTRS),
    layer("MaxPool2d", _MP, max_pool(2), (
        Example("nn.MaxPool2d(2)", ("float32[2,3,10,10]",), expect="strides=(2, 2)"),
        Example("nn.MaxPool2d(3, 2, padding=1)", ("float32[2,3,12,12]",)),
        Example("nn.MaxPool2d(3, 2, ceil_mode=True)", I4),
        Example("nn.MaxPool2d(2, 2, ceil_mode=True)", I4),
        Example("nn.MaxPool2d(3, stride=1, dilation=2)", I4)), spatial(4), init_attrs=_POOL_ATTRS),
    layer("MaxPool3d", _MP, max_pool(3), (Example("nn.MaxPool3d(2)", ("float32[1,2,4,6,6]",)),), spatial(5), init_attrs=_POOL_ATTRS),
    layer("AvgPool1d", _AP1, avg_pool(1), (Example("nn.AvgPool1d(2)", I3),), spatial(3), init_attrs=_AP1_ATTRS),
    layer("AvgPool2d", _AP, avg_pool(2), (
        Example("nn.AvgPool2d(kernel_size=2, stride=1, padding=1, count_include_pad=False)", ("float32[1,3,6,6]",)),
        Example("nn.AvgPool2d(3, 2, 1)", I4),
        Example("nn.AvgPool2d(3, 2, 1, ceil_mode=True)", I4),
        Example("nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)", ("float32[1,2,10,10]",)),
        Example("nn.AvgPool2d(2, divisor_override=3)", ("float32[1,2,6,6]",))), spatial(4), init_attrs=_POOL_ATTRS),
    layer("AvgPool3d", _AP, avg_pool(3), (Example("nn.AvgPool3d(2)", ("float32[1,2,4,4,4]",)),), spatial(5), init_attrs=_POOL_ATTRS),
    layer("AdaptiveAvgPool1d", "output_size", adaptive("avg", 1),
          (Example("nn.AdaptiveAvgPool1d(1)", I3), Example("nn.AdaptiveAvgPool1d(5)", I3)), spatial(3), layout_of=_adaptive_layout(1)),
    layer("AdaptiveAvgPool2d", "output_size", adaptive("avg", 2),
          (Example("nn.AdaptiveAvgPool2d(1)", I4), Example("nn.AdaptiveAvgPool2d((1, 1))", I4),
           Example("nn.AdaptiveAvgPool2d((7, 7))", ("float32[2,3,13,14]",)),
           Example("nn.AdaptiveAvgPool2d((3, None))", I4)), spatial(4), layout_of=_adaptive_layout(2)),
    layer("AdaptiveMaxPool1d", "output_size, return_indices=False", adaptive("max", 1),
          (Example("nn.AdaptiveMaxPool1d(4)", I3),), spatial(3), layout_of=_adaptive_layout(1)),
    layer("AdaptiveMaxPool2d", "output_size, return_indices=False", adaptive("max", 2),
          (Example("nn.AdaptiveMaxPool2d(1)", I4), Example("nn.AdaptiveMaxPool2d((5, 7))", ("float32[2,3,13,14]",))),
          spatial(4), layout_of=_adaptive_layout(2)),
    layer("AdaptiveAvgPool3d", "output_size", adaptive("avg", 3),
          (Example("nn.AdaptiveAvgPool3d(1)", ("float32[1,2,3,4,5]",)),
           Example("nn.AdaptiveAvgPool3d((2, 3, 2))", ("float32[1,2,5,7,4]",))), spatial(5),
          layout_of=_adaptive_layout(3)),
    layer("AdaptiveMaxPool3d", "output_size, return_indices=False", adaptive("max", 3),
          (Example("nn.AdaptiveMaxPool3d((2, 2, 2))", ("float32[1,2,5,4,4]",)),), spatial(5),
          layout_of=_adaptive_layout(3)),
    layer("Flatten", "start_dim=1, end_dim=-1", _flatten,
          (Example("nn.Flatten()", ("float32[2,3,4]",)), Example("nn.Flatten(0, 1)", ("float32[2,3,4]",))), RESHAPE),
    layer("Unflatten", "dim, unflattened_size", _unflatten,
          (Example("nn.Unflatten(1, (2, 6))", ("float32[2,12]",)),), RESHAPE),
    layer("Upsample", "size=None, scale_factor=None, mode='nearest', align_corners=None, recompute_scale_factor=None",
          _upsample,
          (Example("nn.Upsample(scale_factor=2)", ("float32[1,2,5,5]",)),
           Example("nn.Upsample(size=(7, 5))", ("float32[1,2,5,4]",)),
           Example("nn.Upsample(scale_factor=2, mode='bilinear')", ("float32[1,2,5,6]",)),
           Example("nn.Upsample(size=(5, 9), mode='bilinear', align_corners=True)", ("float32[1,2,6,4]",)),
           Example("nn.Upsample(scale_factor=2, mode='linear')", ("float32[1,2,6]",)),
           Example("nn.Upsample(scale_factor=2, mode='bicubic', align_corners=False)", ("float32[1,2,5,6]",))),
          Layout("spatial_any"), layout_of=_upsample_layout),
    layer("UpsamplingNearest2d", "size=None, scale_factor=None",
          lambda a, ctx: partial(ctx.helper("interpolate"), [f"{n}={a.src(n)}" for n in ("size", "scale_factor") if a.given(n)]),
          (Example("nn.UpsamplingNearest2d(scale_factor=2)", ("float32[1,2,3,3]",)),), spatial(4)),
    layer("UpsamplingBilinear2d", "size=None, scale_factor=None",
          lambda a, ctx: partial(ctx.helper("interpolate"), [f"{n}={a.src(n)}" for n in ("size", "scale_factor") if a.given(n)]
                                 + ["mode='bilinear'", "align_corners=True"]),
          (Example("nn.UpsamplingBilinear2d(scale_factor=2)", ("float32[1,2,3,3]",)),), spatial(4)),
    layer("PixelShuffle", "upscale_factor",
          lambda a, ctx: f"functools.partial({ctx.helper('pixel_shuffle')}, upscale_factor={a.src('upscale_factor')})",
          (Example("nn.PixelShuffle(2)", ("float32[2,12,3,4]",)),), spatial(4)),
    layer("PixelUnshuffle", "downscale_factor",
          lambda a, ctx: f"functools.partial({ctx.helper('pixel_unshuffle')}, downscale_factor={a.src('downscale_factor')})",
          (Example("nn.PixelUnshuffle(2)", ("float32[2,3,4,6]",)),), spatial(4)),
    func("pixel_shuffle", "input, upscale_factor",
         lambda a, ctx: f"{ctx.helper('pixel_shuffle')}({a.src('input')}, {a.src('upscale_factor')})",
         (Example("F.pixel_shuffle(x, 3)", ("float32[1,18,2,3]",)),), spatial(4)),
    # functional forms
    func("max_pool1d", _FMP, max_pool(1, True),
         (Example("F.max_pool1d(x, 2)", I3), Example("F.max_pool1d(x, 3, 2, 0, 1, True)", I3)), spatial(3)),
    func("max_pool2d", _FMP, max_pool(2, True),
         (Example("F.max_pool2d(x, 2)", I4), Example("F.max_pool2d(x, 3, 2, 1)", I4),
          Example("F.max_pool2d(x, 3, 2, (0, 0), (1, 1), True)", I4, expect="ceil_mode=True"),
          Example("F.max_pool2d(x, 3, 2, 1, 2, False)", I4, expect="dilation=2")), spatial(4)),
    func("avg_pool1d", "input, " + _AP1, avg_pool(1, True), (Example("F.avg_pool1d(x, 3)", I3),), spatial(3)),
    func("avg_pool2d", "input, " + _AP, avg_pool(2, True),
         (Example("F.avg_pool2d(x, 2)", I4),
          Example("F.avg_pool2d(x, 3, 2, (1, 1), True, False)", I4, expect="ceil_mode=True")), spatial(4)),
    func("adaptive_avg_pool1d", "input, output_size", adaptive("avg", 1, True),
         (Example("F.adaptive_avg_pool1d(x, 1)", I3),), spatial(3), layout_of=_adaptive_layout(1)),
    func("adaptive_avg_pool2d", "input, output_size", adaptive("avg", 2, True),
         (Example("F.adaptive_avg_pool2d(x, 1)", I4), Example("F.adaptive_avg_pool2d(x, (2, 3))", I4)), spatial(4), layout_of=_adaptive_layout(2)),
    func("adaptive_max_pool2d", "input, output_size, return_indices=False", adaptive("max", 2, True),
         (Example("F.adaptive_max_pool2d(x, (2, 2))", I4),), spatial(4), layout_of=_adaptive_layout(2)),
    func("interpolate", "input, size=None, scale_factor=None, mode='nearest', align_corners=None, "
                        "recompute_scale_factor=None, antialias=False",
         lambda a, ctx: _upsample(a, ctx, functional=True),
         (Example("F.interpolate(x, scale_factor=2, mode='nearest')", ("float32[1,2,4,4]",)),
          Example("F.interpolate(x, size=(6, 9), mode='bilinear', align_corners=False)", ("float32[1,2,4,4]",)),
          # bicubic: torch's a = -0.75, borders clamped, no antialias when downsampling
          Example("F.interpolate(x, size=(9, 5), mode='bicubic')", ("float32[1,2,5,7]",)),
          Example("F.interpolate(x, size=(3, 5), mode='bicubic', align_corners=False)", ("float32[2,3,8,9]",)),
          Example("F.interpolate(x, size=(11, 4), mode='bicubic', align_corners=True)", ("float32[1,2,6,7]",)),
          Example("F.interpolate(x, size=(4, 3), mode='bicubic', align_corners=True)", ("float32[1,2,9,8]",)),
          Example("F.interpolate(x, scale_factor=1.7, mode='bicubic')", ("float32[1,2,7,5]",)),
          Example("F.interpolate(x, scale_factor=(0.5, 2), mode='bicubic', align_corners=True)", ("float32[1,2,9,4]",)),
          # antialias: torch's _aa kernels (a widened, normalised filter; bicubic with a = -0.5)
          Example("F.interpolate(x, size=(4, 3), mode='bilinear', antialias=True)", ("float32[1,2,11,9]",)),
          Example("F.interpolate(x, size=(5, 12), mode='bicubic', antialias=True)", ("float32[1,2,13,7]",)),
          Example("F.interpolate(x, scale_factor=0.4, mode='bicubic', align_corners=True, antialias=True)",
                  ("float32[2,3,12,10]",)),
          # a flag known only at run time: the helper takes it
          Example("F.interpolate(x, size=(3, 4), mode='bicubic', antialias=x.shape[0] > 1)", ("float32[2,2,9,10]",),
                  expect="interpolate_antialiased(x, size=(3, 4), mode=\"bicubic\", antialias=x.shape[0] > 1)"),
          Example("F.interpolate(x, size=(3, 4), mode='bilinear', antialias=x.shape[0] > 1)", ("float32[1,2,9,10]",))),
         Layout("spatial_any")),
]
