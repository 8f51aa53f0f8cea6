"""Tensors held in a permutation that is no image layout, handed to a module the
analysis cannot see.

``q, k, v = qkv.reshape(B, N, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)`` leaves
the heads where they were: q is held (B, N, h, d) for torch's (B, h, N, d). The
output contract lets a module of unknown class take channels-last images as
they are, nothing else: handed to one (CoaT's ``self.crpe(q, v, size=size)``,
a module its constructor was given), such a tensor goes in torch order, every
argument (the callee read ``B, h, N, C = q.shape`` and got the heads for N).

So does a tensor handed to a parameter its translated callee left undecided
(a layer-choice Mlp, DropPath: layout-generic code that takes each caller's
tensor as it is): such code reads channels-last images as images and anything
else in torch order. MLP-Mixer's ``self.mlp_tokens(self.norm1(x).transpose(1, 2))``
held the tokens (0, 2, 1) and its Linear mixed the channels instead of the tokens.
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


def to_undecided(rw, node, t: L.Tag, want):
    """``node`` (tagged ``t``) handed to a parameter its callee takes as ``want``:
    when the callee left it undecided (``want`` no tensor layout), a tensor held
    in a non-image permutation goes in torch order. Returns (node, tag)."""
    if (want is None or want.kind != L.TENSOR) and t.kind == L.TENSOR and t.channels_last \
            and not L.is_image_layout(t):
        node = rw.canonical(node, "a permuted tensor handed to layout-generic code")
        return node, rw.tag(node)
    return node, t
