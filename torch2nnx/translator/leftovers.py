"""Last pass: no torch reference may stay in the output unmarked.

Any name still bound to a torch import gets a TODO on its statement (unless
the statement already carries one) and a T2N003 diagnostic.
"""

from __future__ import annotations

import libcst as cst

from ..diagnostics import Diagnostic
from .context import FileContext
from .fastvisit import FastTransformer, FastVisitor
from .imports import user_package
from .kept_data import is_kept_callee

MARK = "# TODO(torch2nnx)"


class _Leftovers(FastTransformer):
    def __init__(self, f: FileContext, torch_names: set[str]):
        self.f = f
        self.torch_names = torch_names
        self.stack: list[set[str]] = []

    def _push(self, node):
        self.stack.append({})

    def _pop(self, updated):
        found = self.stack.pop()
        if not found:
            return updated
        if any(l.comment and l.comment.value.startswith(MARK) for l in updated.leading_lines):
            return updated  # already marked (and reported) by the pass that gave up on it
        names = ", ".join(sorted(found))
        first = min(found.values())
        self.f.diagnostics.append(Diagnostic(first[0], first[1], "T2N003",
                                             f"torch reference left in the output: {names}", self.f.path))
        self.f.todo_count += 1
        return updated.with_changes(leading_lines=list(updated.leading_lines) + [
            cst.EmptyLine(comment=cst.Comment(f"{MARK}: T2N003 torch reference left: {names}"))])

    def visit_SimpleStatementLine(self, node):
        self._push(node)
        if any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in node.body):
            return False  # imports are settled afterwards, by what is still used

    def leave_SimpleStatementLine(self, original, updated):
        return self._pop(updated)

    def visit_If(self, node):
        self._push(node)

    def leave_If(self, original, updated):
        return self._pop(updated)

    def visit_For(self, node):
        self._push(node)

    def leave_For(self, original, updated):
        return self._pop(updated)

    def visit_While(self, node):
        self._push(node)

    def leave_While(self, original, updated):
        return self._pop(updated)

    def visit_With(self, node):
        self._push(node)

    def leave_With(self, original, updated):
        return self._pop(updated)

    def visit_FunctionDef(self, node):
        self._push(node)
        # only the signature and decorators count for the def itself
        return True

    def leave_FunctionDef(self, original, updated):
        return self._pop(updated)

    def visit_ClassDef(self, node):
        self._push(node)
        if node.name.value in self.f.kept_classes:  # a Dataset subclass, kept as written
            self.f.kept_names.update(_torch_names_in(node, self.torch_names))
            return False

    def leave_ClassDef(self, original, updated):
        return self._pop(updated)

    def visit_IndentedBlock(self, node):
        # statements inside get their own marks; shield the header's set
        self.stack.append({})

    def leave_IndentedBlock(self, original, updated):
        self.stack.pop()
        return updated

    def visit_Call(self, node):
        if is_kept_callee(self.f, node.func):
            # a torch data pipeline kept as torch code (kept_data.py), its arguments too:
            # the torch names it reads keep their imports, unmarked
            self.f.kept_names.update(_torch_names_in(node, self.torch_names))
            return False
        return True

    def visit_Name(self, node):
        if node.value in self.torch_names and self.stack:
            self.stack[-1].setdefault(node.value, self.f.position(node))
            self.f.leftover_names.add(node.value)

    def visit_Attribute(self, node):
        root = _root_name(node)
        if root is not None:
            self.visit_Name(root)
            return False
        return True


def _root_name(node: cst.Attribute) -> cst.Name | None:
    """In ``jax.nn.relu`` only the root name can be a torch import."""
    root = node.value
    while isinstance(root, cst.Attribute):
        root = root.value
    return root if isinstance(root, cst.Name) else None


def _torch_names_in(node, torch_names: set[str]) -> set[str]:
    found = set()

    class Names(FastVisitor):
        def visit_Name(self, n):
            if n.value in torch_names:
                found.add(n.value)

    Names().walk(node)
    return found


def mark_leftovers(module: cst.Module, f: FileContext) -> cst.Module:
    names = {local for local, q in f.imports.names.items() if f.imports.is_dropped(q) or user_package(local, q)}
    # a torch function imported by name whose translation is the emitted helper
    # of the same name (`from torch.nn.utils.rnn import pad_sequence`): the name
    # now means the helper, not torch
    names -= set(f.helpers)
    names -= set(f.row_imports)  # the same for a user row's import (BuildCtx.import_name)
    if not names:
        return module
    # most statements hold no torch name: find them with a visitor, which
    # rebuilds nothing, and run the marking transformer on the others only
    body = []
    for stmt in module.body:
        if _mentions(stmt, names):
            f.positions.current = f.origins.get(id(stmt))
            stmt = _Leftovers(f, names).walk(stmt)
        body.append(stmt)
    f.positions.current = None
    return module.with_changes(body=body)


class _Mentions(FastVisitor):
    def __init__(self, names: set[str]):
        self.names = names
        self.found = False

    def on_visit(self, node) -> bool:
        if self.found:
            return False
        t = type(node)
        if t is cst.Name:
            self.found = node.value in self.names
            return False
        if t is cst.Attribute:
            root = _root_name(node)
            if root is not None:
                self.found = root.value in self.names
                return False
        return super().on_visit(node)

    def visit_SimpleStatementLine(self, node):
        # imports are settled afterwards, by what is still used
        return not any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in node.body)


def _mentions(stmt, names: set[str]) -> bool:
    v = _Mentions(names)
    v.walk(stmt)
    return v.found
