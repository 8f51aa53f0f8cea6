"""Sliding-block ops: nn.Unfold / F.unfold (im2col) and nn.Fold / F.fold (col2im).

Both work in torch's order: unfold reads an image batch (N, C, H, W) -- a
channels-last input is transposed back first -- and returns blocks
(N, C * kh * kw, L), channel-major as torch; fold returns torch's (N, C, H, W).
The runtime helpers compute unfold as image patches and fold as its transpose
(overlaps summed, as in torch).
"""

from .base import Example, Layout, Rule
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


RULES = [
    Rule("torch.nn.Unfold", _UNFOLD, _layer("unfold"), layout=_LAYOUT, layer=True,
         examples=(Example("nn.Unfold(kernel_size=3, padding=1, stride=2)", ("float32[2,3,9,8]",)),
                   # reached channels-last (after a convolution): back to torch's order first
                   Example("nn.Unfold((2, 3), dilation=(1, 2))", ("float32[2,3,9,8]",), channels_last=True))),
    Rule("torch.nn.Fold", _FOLD, _layer("fold"), layout=_LAYOUT, layer=True,
         examples=(Example("nn.Fold((6, 5), 3, padding=1)", ("float32[2,18,30]",)),
                   Example("nn.Fold(output_size=(7, 7), kernel_size=2, stride=2)", ("float32[2,8,9]",)))),
    Rule("torch.nn.functional.unfold", "input, " + _UNFOLD, _func("unfold"), layout=_LAYOUT,
         examples=(Example("F.unfold(x, 3)", ("float32[2,3,7,6]",)),
                   Example("F.unfold(x, kernel_size=2, stride=2)", ("float32[2,3,8,8]",), channels_last=True),
                   Example("F.unfold(x, (3, 2), 2, 1, 1)", ("float32[3,7,6]",)))),
    Rule("torch.nn.functional.fold", "input, " + _FOLD, _func("fold"), layout=_LAYOUT,
         examples=(Example("F.fold(x, output_size=(5, 4), kernel_size=3, padding=1, stride=2)", ("float32[2,27,6]",)),
                   Example("F.fold(F.unfold(x, 3, padding=1), x.shape[-2:], 3, padding=1)", ("float32[2,3,6,5]",),
                           channels_last=True))),
]
