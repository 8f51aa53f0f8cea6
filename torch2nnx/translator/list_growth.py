"""Lists of layers grown with ``+=``: ``stages += [Stage(...)]`` (or
``self.layers += [...]`` on a ModuleList) is
``stages.extend([Stage(...)])`` (timm's PVT-v2 builds its stages so, then
``nn.Sequential(*stages)``). Without it the Sequential knew none of its layers,
so what the stages return (channels-last images built from tokens) was lost
and the head reduced the wrong axes.
"""

from __future__ import annotations

import libcst as cst

from . import layout as L


def list_extended(rw, updated: cst.AugAssign):
    """``name += [layers]`` on a list of layers (or an empty list): recorded as
    ``extend``; None when the statement is something else."""
    target = updated.target
    if not isinstance(updated.operator, cst.AddAssign) or not (
            isinstance(target, cst.Name) or (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
                                             and target.value.value == "self")):
        return None  # a local list, or a ModuleList attribute (torchvision MaxViT: self.layers += [...])
    t, vt = rw.tag(updated.target), rw.tag(updated.value)
    if t.kind not in (L.SEQ, L.MODULE) or (t.kind == L.MODULE and (t.module is None or t.module.kind != "list")):
        return None
    if vt.kind != L.MODULE or vt.module is None or vt.module.kind != "list" or not vt.module.elements:
        return None
    func = cst.Attribute(value=updated.target, attr=cst.Name("extend"))
    rw.container_add(func, cst.Call(func=func, args=[cst.Arg(value=updated.value)]))
    return updated
