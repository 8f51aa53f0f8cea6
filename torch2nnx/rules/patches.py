"""Sliding-block ops: nn.Unfold / F.unfold (im2col) and nn.Fold / F.fold (col2im).

Unfold reads an image batch and returns blocks (N, C * kh * kw, L),
channel-major as torch: the layer takes the batch channels-last, as a
convolution does (PiT's patch embedding reads the model's image with it), and
the function reads a channels-last batch as it is, a torch-order one in torch's
order. Fold works in torch's order and returns torch's (N, C, H, W).
The runtime helpers compute unfold as image patches and fold as its transpose
(overlaps summed, as in torch).
"""

from .base import Canonical, Example, Layout, Rule
from .util import call, partial

_UNFOLD = "kernel_size, dilation=1, padding=0, stride=1"
_FOLD = "output_size, " + _UNFOLD
_NAMES = ("output_size", "kernel_size", "dilation", "padding", "stride")
# torch order in (the image for unfold, the blocks for fold), a plain tensor out
_LAYOUT = Layout("plain")


def _kws(a):
    return [f"{n}={a.src(n)}" for n in _NAMES if a.given(n)]


def _layer(helper):
    return lambda a, ctx: partial(ctx.helper(helper), _kws(a))


def _func(helper):
    return lambda a, ctx: call(ctx.helper(helper), [a.src("input")] + _kws(a))


def _unfold_layer(a, ctx):
    return partial(ctx.helper("unfold"), _kws(a) + ["channels_last=True"])


def _unfold(a, ctx):
    """F.unfold: a channels-last batch read as it is; the blocks are torch's."""
    if ctx.perm is not None and tuple(ctx.perm) != (0, 2, 3, 1):
        raise Canonical()
    ctx.result_plain = True
    flag = ["channels_last=True"] if ctx.perm is not None else []
    return call(ctx.helper("unfold"), [a.src("input")] + _kws(a) + flag)


RULES = [
    Rule("torch.nn.Unfold", _UNFOLD, _unfold_layer, layout=Layout("spatial", rank=4, out_plain=True), layer=True,
         examples=(Example("nn.Unfold(kernel_size=3, padding=1, stride=2)", ("float32[2,3,9,8]",)),
                   # reached channels-last (after a convolution): read as it is
                   Example("nn.Unfold((2, 3), dilation=(1, 2))", ("float32[2,3,9,8]",), channels_last=True))),
    Rule("torch.nn.Fold", _FOLD, _layer("fold"), layout=_LAYOUT, layer=True,
         examples=(Example("nn.Fold((6, 5), 3, padding=1)", ("float32[2,18,30]",)),
                   Example("nn.Fold(output_size=(7, 7), kernel_size=2, stride=2)", ("float32[2,8,9]",)))),
    Rule("torch.nn.functional.unfold", "input, " + _UNFOLD, _unfold, layout=Layout("aware", tensors=("input",)),
         examples=(Example("F.unfold(x, 3)", ("float32[2,3,7,6]",)),
                   Example("F.unfold(x, kernel_size=2, stride=2)", ("float32[2,3,8,8]",), channels_last=True),
                   Example("F.unfold(x, (3, 2), 2, 1, 1)", ("float32[3,7,6]",)))),
    Rule("torch.nn.functional.fold", "input, " + _FOLD, _func("fold"), layout=_LAYOUT,
         examples=(Example("F.fold(x, output_size=(5, 4), kernel_size=3, padding=1, stride=2)", ("float32[2,27,6]",)),
                   Example("F.fold(F.unfold(x, 3, padding=1), x.shape[-2:], 3, padding=1)", ("float32[2,3,6,5]",),
                           channels_last=True))),
]
