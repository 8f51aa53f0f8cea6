"""Arguments after the first of a call of a translated class's instance.

``self.conv_mid(x, concat_list)`` (timm's VoVNet hands its blocks the list
they append their outputs to): the callee learns the layout of every tensor
or list of tensors its callers hand it, not only of the first argument, and
an argument it takes in another layout is converted at the call, as for
plain functions (``FunctionRewriter.call_summary``).
"""

from __future__ import annotations

import libcst as cst

from . import layout as L


def class_summary(rw, m):
    if m is None or m.kind != "class":
        return None
    info = rw.f.classes.get(m.cls)
    return info.methods.get("__call__") if info else rw.f.external_summaries.get(m.cls)


def later_args(rw, updated: cst.Call, m) -> cst.Call:
    s = class_summary(rw, m)
    if s is None or len(updated.args) < 2:
        return updated
    params = [p for p in s.params if p != "self"]
    args = list(updated.args)
    for i, a in enumerate(args[1:], 1):
        if a.star:
            continue
        pname = a.keyword.value if a.keyword is not None else (params[i] if i < len(params) else None)
        if pname is None:
            continue
        t = rw.tag(a.value)
        if rw.is_moved_weight(t):
            continue
        if t.kind in (L.TENSOR, L.SEQ):
            rw.f.record_call(m.cls, "__call__", pname, t)
        value, _ = rw.to_taken(a.value, t, s.takes.get(pname))
        if value is not a.value:
            args[i] = a.with_changes(value=value)
    return updated.with_changes(args=args)
