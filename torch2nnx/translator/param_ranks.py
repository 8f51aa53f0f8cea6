"""Ranks a function's own code shows for its parameters.

``batch_size, hidden_size, seq_len = x.shape`` (no starred target) only runs in
torch when ``x`` has rank 3: the source fixes the rank. A default that guesses
a parameter's rank (a subclass of GroupNorm takes images, rank 4, when no
caller tells: transformers' masked group norm over audio frames takes
``(N, C, L)``) yields to it; before, the guess and the unpacking met in one
function and the layouts of its returns could not be reconciled (a transpose
from rank 4 to rank 3: an internal error, or a wrong ``jnp.transpose`` in the
caller).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst


def _shape_of(node, name: str) -> bool:
    """``name.shape`` or ``name.size()``."""
    if isinstance(node, cst.Attribute) and node.attr.value == "shape":
        return isinstance(node.value, cst.Name) and node.value.value == name
    if isinstance(node, cst.Call) and not node.args and isinstance(node.func, cst.Attribute) \
            and node.func.attr.value == "size":
        return isinstance(node.func.value, cst.Name) and node.func.value.value == name
    return False


class _Finder(cst.CSTVisitor):
    def __init__(self, name: str):
        self.name = name
        self.ranks: set[int] = set()
        self.rebound = False

    def _binds(self, target) -> bool:
        if isinstance(target, cst.Name):
            return target.value == self.name
        if isinstance(target, (cst.Tuple, cst.List)):
            return any(self._binds(e.value) for e in target.elements)
        if isinstance(target, cst.StarredElement):
            return self._binds(target.value)
        return False

    def visit_Assign(self, node):
        if self.rebound:
            return False
        if len(node.targets) == 1 and _shape_of(node.value, self.name):
            t = node.targets[0].target
            if isinstance(t, (cst.Tuple, cst.List)) and t.elements \
                    and not any(isinstance(e, cst.StarredElement) for e in t.elements):
                self.ranks.add(len(t.elements))
        if any(self._binds(t.target) for t in node.targets):
            self.rebound = True  # what follows reads another value
        return False

    def visit_AugAssign(self, node):
        if self._binds(node.target):
            self.rebound = True
        return False

    def visit_AnnAssign(self, node):
        if self._binds(node.target):
            self.rebound = True
        return False

    def visit_For(self, node):
        if self._binds(node.target):
            self.rebound = True

    def visit_FunctionDef(self, node):
        return node is self.top  # a nested def reads its own names

    def visit_Lambda(self, node):
        return False

    def visit_ClassDef(self, node):
        return False


def unpacked_rank(func: cst.FunctionDef, name: str) -> Optional[int]:
    """The rank ``name``'s shape is unpacked at in ``func``, before ``name`` is
    rebound, when every such unpacking agrees; else None."""
    finder = _Finder(name)
    finder.top = func
    func.visit(finder)
    return next(iter(finder.ranks)) if len(finder.ranks) == 1 else None
