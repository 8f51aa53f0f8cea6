"""A tuple of tensors in different layouts handed to an op with a dim.

A tuple literal keeps each element's layout (several outputs returned
together), so its tag has no common order. Handed to ``torch.cat`` or
``torch.stack`` (timm's MViTv2 ``torch.cat((cls_tok, x), dim=2)``: a class
token in torch order and pooled tokens whose last transpose the layout pass
holds back), the dim counts in torch's order of every element: each element
is brought to torch order first. Before, the dim was read as torch order while
the held element stayed transposed -- silently wrong where the sizes matched.
"""

from __future__ import annotations

import libcst as cst

from . import layout as L


def torch_order_elements(rw, node, t):
    """``node`` (a tuple or list literal tagged ``t``) with every element in torch
    order, when its elements' layouts differ; None otherwise."""
    if t.kind != L.SEQ or t.perm is not None or not isinstance(t.module, tuple):
        return None
    if not isinstance(node, (cst.Tuple, cst.List)) or any(isinstance(e, cst.StarredElement) for e in node.elements):
        return None
    if not any(isinstance(e, L.Tag) and e.kind == L.TENSOR and e.channels_last for e in t.module):
        return None
    elems = [e.with_changes(value=rw.canonical(e.value, "mixed layouts in one sequence")) for e in node.elements]
    return rw.set(node.with_changes(elements=elems), L.plain().with_(kind=L.SEQ))
