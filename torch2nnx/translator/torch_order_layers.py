"""Layers of a class known only at run time handed a tensor in torch's order.

``self.norm = norm_layer(embed_dim) if norm_layer else nn.Identity()`` applied
to a map the code just put in torch's (N, C, H, W) order (timm's ``PatchEmbed``
with ``output_fmt`` NCHW, Visformer handing it ``nn.BatchNorm2d``): under the
output contract a module of unknown class is handed what it is handed, but NNX's
channel layers (BatchNorm, Conv, GroupNorm, ...) read the channels on the last
axis, so a BatchNorm handed (N, C, H, W) normalised over W (a shape error at
best). The call goes through the runtime helper ``torch_order_layer``, which
transposes around the layer only when it is one of NNX's channel layers and the
input has a channel axis to move (rank 3 or more); anything else (a LayerNorm
on tokens, an Identity, a translated module) gets the tensor unchanged.

Only tensors known to be in torch's order, of rank 3+ or of a rank unknown here,
take the helper: a channels-last map keeps the contract's pass-through.
"""

from __future__ import annotations

import libcst as cst

from . import layout as L
from .context import ModuleRef
from .layout import Tag


def applies(m: ModuleRef, t: Tag, call: cst.Call) -> bool:
    if m.kind != "unknown" or not call.args:
        return False
    first = call.args[0]
    if first.keyword is not None or first.star:
        return False
    if t.kind != L.TENSOR or t.channels_last or t.weight:
        return False
    rank = L.rank_of(t)
    return rank is None or rank >= 3


def call(rw, call: cst.Call, t: Tag):
    """``helper(layer, x, *rest)`` for ``layer(x, *rest)``; torch's order out."""
    helper = rw.build_ctx.helper("torch_order_layer")
    new = cst.Call(func=cst.Name(helper),
                   args=[cst.Arg(value=call.func), *call.args])
    return rw.set(new, t)
