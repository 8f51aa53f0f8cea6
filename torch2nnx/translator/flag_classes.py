"""A slot whose class the same flag chooses as the layout of what it is handed.

timm's MaxxVit block::

    partition_layer = PartitionAttention2d if self.nchw_attn else PartitionAttentionCl
    self.attn_block = None if no_block_attn else partition_layer(**kw)
    self.attn_grid = partition_layer(partition_type='grid', **kw)
    ...
    if not self.nchw_attn:
        x = x.permute(0, 2, 3, 1)       # NHWC for the channels-last class
    if self.attn_block is not None:
        x = self.attn_block(x)
    x = self.attn_grid(x)
    if not self.nchw_attn:
        x = x.permute(0, 3, 1, 2)

``x`` is split on the flag (flag_splits.py), and the slot holds the class the
flag picked: each class is only ever handed the side of ``x`` its own value of
the flag leaves. Handing both classes both sides (or one side brought to a
common layout) told the NCHW class it takes tokens in torch order and the
channels-last one an image, and mixed their summaries. Here each class learns
its own side only; the result is split again, each side what that class
returns, so the second test on the flag restores it.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst


def _code(node) -> str:
    return cst.Module([]).code_for_node(node)


def _strip(test) -> tuple:
    pol = True
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, pol = test.expression, not pol
    return (test.with_changes(lpar=[], rpar=[]) if getattr(test, "lpar", None) else test), pol


class _Choices(cst.CSTVisitor):
    """``A if test else B`` between two class names, and ``self.attr = value``
    assignments (a flag read off ``self`` is the value it was set from)."""

    def __init__(self):
        self.choices: list[tuple[str, bool, str, str]] = []  # (test, polarity, when true, when false)
        self.aliases: dict[str, str] = {}  # "self.attr" -> source of the value assigned

    def visit_IfExp(self, node):
        if isinstance(node.body, cst.Name) and isinstance(node.orelse, cst.Name):
            atom, pol = _strip(node.test)
            self.choices.append((_code(atom), pol, node.body.value, node.orelse.value))

    def visit_Assign(self, node):
        if len(node.targets) == 1:
            t = node.targets[0].target
            if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
                self.aliases[_code(t)] = _code(node.value)

    def visit_FunctionDef(self, node):
        return node.name.value == "__init__"


def _choices(rw) -> _Choices:
    got = getattr(rw.cls, "_flag_class_choices", None) if rw.cls is not None else None
    if got is None:
        got = _Choices()
        if rw.cls is not None:
            for st in rw.cls.node.body.body:
                if isinstance(st, cst.FunctionDef) and st.name.value == "__init__":
                    st.visit(got)
            rw.cls._flag_class_choices = got
    return got


def sides(rw, test: str, classes: list[str]) -> Optional[dict[str, bool]]:
    """{class: the value of the flag ``test`` under which the constructor picks it},
    when the constructor picks between exactly these classes on that flag (or on
    the value ``self.<flag>`` was set from), else None."""
    if rw.cls is None or len(set(classes)) != 2:
        return None
    found = _choices(rw)
    names = {test, found.aliases.get(test)}
    for atom, pol, when_true, when_false in found.choices:
        if atom not in names and found.aliases.get(atom) not in names - {None}:
            continue
        if {when_true, when_false} != set(classes) or when_true == when_false:
            continue
        return {when_true: pol, when_false: not pol}
    return None
