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
