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


def _built(value) -> set[str]:
    """Names of what ``value`` calls (the classes it may build)."""
    found: set[str] = set()

    class _Calls(cst.CSTVisitor):
        def visit_Call(self, node):
            if isinstance(node.func, cst.Name):
                found.add(node.func.value)

    value.visit(_Calls())
    return found


class _Choices(cst.CSTVisitor):
    """``A if test else B`` between two class names, ``self.attr = value``
    assignments (a flag read off ``self`` is the value it was set from), and the
    classes a slot is built as under each value of a flag (``if conv_mlp:
    self.ls = LayerScale2d(...)`` / ``else: self.ls = LayerScale(...)``)."""

    def __init__(self):
        self.choices: list[tuple[str, bool, str, str]] = []  # (test, polarity, when true, when false)
        self.aliases: dict[str, str] = {}  # "self.attr" -> source of the value assigned
        self.slots: dict[str, dict[str, tuple[str, bool]]] = {}  # attr -> {class: (test, polarity)}
        self._tests: list[list] = []  # enclosing ifs: [test, polarity]

    def visit_If(self, node):
        atom, pol = _strip(node.test)
        self._tests.append([_code(atom), pol])

    def visit_If_orelse(self, node):
        self._tests[-1][1] = not self._tests[-1][1]

    def leave_If(self, node):
        self._tests.pop()

    def visit_IfExp(self, node):
        if isinstance(node.body, cst.Name) and isinstance(node.orelse, cst.Name):
            atom, pol = _strip(node.test)
            self.choices.append((_code(atom), pol, node.body.value, node.orelse.value))

    def visit_Assign(self, node):
        if len(node.targets) == 1:
            t = node.targets[0].target
            if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
                self.aliases[_code(t)] = _code(node.value)
                if self._tests:
                    test, pol = self._tests[-1]
                    for cls in _built(node.value):
                        self.slots.setdefault(t.attr.value, {})[cls] = (test, pol)

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


def _same_flag(found: _Choices, a: str, b: str) -> bool:
    return a == b or found.aliases.get(a) == b or found.aliases.get(b) == a \
        or (found.aliases.get(a) is not None and found.aliases.get(a) == found.aliases.get(b))


# --- slots read under an if on the flag that chose their class -------------------


def enter_if(rw, node: cst.If) -> None:
    if not hasattr(rw, "_flag_tests"):
        rw._flag_tests = []
    atom, pol = _strip(node.test)
    rw._flag_tests.append([_code(atom), pol])


def enter_else(rw) -> None:
    rw._flag_tests[-1][1] = not rw._flag_tests[-1][1]


def leave_if(rw) -> None:
    rw._flag_tests.pop()


def narrow(rw, func, m):
    """``self.ls(x)`` under ``if self.use_conv_mlp:``, the constructor building
    ``self.ls`` as ``LayerScale2d`` when ``conv_mlp`` holds and ``LayerScale``
    otherwise (timm's MaxxVit ConvNeXtBlock, ``self.use_conv_mlp = conv_mlp``):
    only the classes this path can hold. Before, every candidate was handed the
    channels-last image of the conv path, and ``LayerScale`` (NHWC tokens in
    torch) learnt to take images."""
    tests = getattr(rw, "_flag_tests", None)
    if not tests or m is None or m.kind != "union" or rw.cls is None or not isinstance(func, cst.Attribute) \
            or not (isinstance(func.value, cst.Name) and func.value.value == "self"):
        return m
    chosen = _choices(rw).slots.get(func.attr.value)
    if not chosen:
        return m
    found = _choices(rw)
    keep = []
    for e in m.elements:
        side = chosen.get(e.cls) if e.kind == "class" else None
        if side is not None and any(_same_flag(found, t, side[0]) and p != side[1] for t, p in tests):
            continue  # built only under the other value of a flag this path tested
        keep.append(e)
    if len(keep) == len(m.elements) or not keep:
        return m
    return keep[0] if len(keep) == 1 else m.__class__("union", elements=tuple(keep))
