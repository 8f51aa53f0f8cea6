"""Tensors held in a permutation that is no image layout, handed to a module the
analysis cannot see.

``q, k, v = qkv.reshape(B, N, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)`` leaves
the heads where they were: q is held (B, N, h, d) for torch's (B, h, N, d). The
output contract lets a module of unknown class take channels-last images as
they are, nothing else: handed to one (CoaT's ``self.crpe(q, v, size=size)``,
a module its constructor was given), such a tensor goes in torch order, every
argument (the callee read ``B, h, N, C = q.shape`` and got the heads for N).
"""

from __future__ import annotations

import libcst as cst

from . import layout as L


def in_torch_order(rw, args) -> list:
    """``args`` of a call of an unknown module, each tensor held in a non-image
    permutation brought to torch order."""
    out = []
    for a in args:
        t = rw.tag(a.value)
        if isinstance(a, cst.Arg) and not a.star and t.kind == L.TENSOR and t.channels_last \
                and not L.is_image_layout(t):
            a = a.with_changes(value=rw.canonical(a.value, "a permuted tensor handed to a module of unknown class"))
        out.append(a)
    return out
