"""Stateless torch layers built with arguments known only at run time.

``nn.AvgPool2d(kernel_size, stride=stride, padding=padding, **kwargs)`` (timm's
``create_pool2d``) cannot be bound to its row when the source is read: which
keywords ``**kwargs`` holds is decided at run time. A layer NNX keeps as a
function has a class generated from its row (``row_base``: torch's constructor
signature, ``__call__`` running the row on the stored arguments, refusing at
construction what the row can only take as a constant). Such a call builds
that class with the arguments as written, so Python binds them at run time.
"""

from __future__ import annotations

import libcst as cst

from ..rules.base import Rule, Unsupported
from . import row_base


def starred_layer_source(rule: Rule, updated: cst.Call, helper) -> str | None:
    """``TorchAvgPool2d(<the call's arguments>)`` for a stateless layer row, or None
    when the row has no generated class (it is stateful, or reads **kwargs itself)."""
    if not row_base.is_function_row(rule):
        return None
    name = row_base.base_name(rule)
    try:
        row_base.source(name)
    except Unsupported:
        return None
    callee = helper(name)
    args = cst.Module([]).code_for_node(updated.with_changes(func=cst.Name("_")))[1:]
    return callee + args


def starred_call_source(rule: Rule, updated: cst.Call, ctx) -> str | None:
    """``nn.init.uniform_(self.A, *self.a_init_range)`` (timm's EfficientViM): a
    row whose result is no tensor (``layout.kind == "other"``: initialisers,
    sizes) built on its own parameter names inside a lambda of the row's
    signature, which Python binds to the call's arguments at run time. None
    when the row takes ``*args``/``**kwargs`` itself or cannot be built so."""
    from ..rules.base import _REQUIRED, Args, parse_params

    if rule.layer or rule.layout.kind != "other":
        return None
    spec = parse_params(rule.params)
    if any(k in ("varargs", "varkw") for _, _, k in spec):
        return None
    names = [n for n, _, _ in spec]
    try:
        body = rule.build(Args(rule.params, {n: n for n in names}, [], {}), ctx)
    except Unsupported:
        return None
    sig, kwonly = [], False
    for n, d, k in spec:
        if k == "kwonly" and not kwonly:
            sig.append("*")
            kwonly = True
        sig.append(n if d is _REQUIRED else f"{n}={d}")
    args = cst.Module([]).code_for_node(updated.with_changes(func=cst.Name("_")))[1:]
    return f"(lambda {', '.join(sig)}: {body}){args}"


def splat_binds_named(rule: Rule, pos: list[str]) -> bool:
    """``f(t, *rest)`` where ``*rest`` lands on parameters the row names (not its ``*args``)."""
    from ..rules.base import parse_params

    named = [n for n, _, k in parse_params(rule.params) if k == "pos"]
    return any(p.startswith("*") and i < len(named) for i, p in enumerate(pos))
