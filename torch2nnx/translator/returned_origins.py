"""Provisional torch order handed back through a function's return.

A helper method that picks channels out of its undecided input and puts them
back together (torchvision's GoogLeNet / Inception v3 ``_transform_input``:
``torch.unsqueeze(x[:, 0], 1) * s + b`` per channel, then ``torch.cat(..., 1)``)
reads that input in torch order for want of a layout; its result carries the
parameter as its ``origin``. Before, the origin stopped at the ``return``: the
caller handed the result to the first convolution with a transpose, so the
whole model took torch's (N, C, H, W) where the contract says channels-last.

Now the summary keeps which parameter the returned value comes from, and a
caller whose argument for it is its own undecided parameter (or carries one
as its origin) gets a result with that origin: a spatial layer it reaches asks
the caller's parameter channels-last next round (``FunctionRewriter.ask_image``),
the caller then hands the helper channels-last maps, and the helper, hinted,
takes them so (its channel indexing and concatenation remapped).
"""

from __future__ import annotations

from typing import Optional

from . import layout as L
from .layout import Tag


def of_return(ret: Optional[Tag], params) -> Optional[str]:
    """The parameter a function's (joined) return is provisionally in torch order for."""
    if ret is None or ret.kind != L.TENSOR or ret.channels_last or ret.origin is None:
        return None
    return ret.origin if ret.origin in params else None


def caller_origin(arg: Tag) -> Optional[str]:
    """The caller's own parameter an argument stands for, undecided or provisionally
    in torch order."""
    if arg.kind == L.FREE:
        return arg.param
    if arg.kind == L.TENSOR and not arg.channels_last:
        return arg.origin
    return None


def through_call(rw, s, ret: Tag, arg_tags: dict) -> Tag:
    """``ret``, the result of calling the function summarised by ``s``, with the
    origin of the caller's argument for ``s.returns_origin``."""
    p = getattr(s, "returns_origin", None)
    if p is None or p not in arg_tags or rw.func_name == "__init__":
        return ret
    if ret.kind != L.TENSOR or ret.channels_last or ret.origin is not None:
        return ret
    q = caller_origin(arg_tags[p])
    return ret.with_(origin=q) if q else ret
