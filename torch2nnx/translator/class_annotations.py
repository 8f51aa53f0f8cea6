"""Annotations and plain values in a class body (``fast: torch.jit.Final[bool]``,
``mask: Optional[torch.Tensor]``, ``dtype = torch.float16``): no method
rewrites them, so the constant rows (``torch.Tensor`` -> ``jax.Array``,
``torch.jit.Final`` -> ``typing.Final``) are applied here; anything else stays
and is reported as a torch reference."""

from __future__ import annotations

import libcst as cst

from ..rules import registry
from .body_support import expr


class _Constants(cst.CSTTransformer):
    def __init__(self, f):
        self.f = f

    def _const(self, original, updated):
        q = self.f.imports.qualify(original)
        rule = registry.constant(q) if q is not None else None
        if rule is not None:
            self.f.helpers.update(rule.helpers)  # a runtime class (transformers' OutputRecorder)
        return expr(rule.build(None, None)) if rule is not None else updated

    def visit_Attribute(self, node):
        return self.f.imports.qualify(node) is None  # the longest dotted name only

    def leave_Attribute(self, original, updated):
        return self._const(original, updated)

    def leave_Name(self, original, updated):
        return self._const(original, updated)


def _statement(f, s):
    if isinstance(s, cst.AnnAssign):
        s = s.with_changes(annotation=s.annotation.visit(_Constants(f)))
    if isinstance(s, (cst.AnnAssign, cst.Assign)) and s.value is not None:
        s = s.with_changes(value=s.value.visit(_Constants(f)))
    return s


def rewrite_annotations(f, body: list) -> list:
    """The class body with its ``name: T = v`` and ``name = v`` statements' constants translated."""
    return [st.with_changes(body=[_statement(f, s) for s in st.body]) if isinstance(st, cst.SimpleStatementLine)
            else st for st in body]
