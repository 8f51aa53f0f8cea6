"""Source positions of the original tree's nodes, for diagnostics.

LibCST's PositionProvider regenerates the whole file's code with position
tracking; most files need no position, the rest need a few, all in the
top-level statement being translated. So positions are resolved one
top-level statement at a time, on demand, and shifted by the lines of the
statements before it.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider


class LazyPositions:
    def __init__(self, module: cst.Module, offsets: dict | None = None):
        self.module = module
        # id(top-level statement) -> lines before it in the source, where a pre-pass
        # (train_steps.py) changed the line counts of the statements before it
        self._fixed = dict(offsets or {})
        self.current = None  # the top-level statement being translated, when known
        self._tables: dict[int, tuple[int, object]] = {}  # id(stmt) -> (line offset, table)
        self._offsets: dict[int, int] = {}  # id(stmt) -> lines before it, counted as far as needed
        self._next: tuple[int, int] | None = None  # (next statement to count, its first line)

    def _offset_of(self, stmt) -> int:
        if id(stmt) in self._fixed:
            return self._fixed[id(stmt)]
        m = self.module
        if self._next is None:
            self._next = (0, sum(m.code_for_node(h).count("\n") for h in m.header))
        i, line = self._next
        while id(stmt) not in self._offsets and i < len(m.body):
            self._offsets[id(m.body[i])] = line
            line += m.code_for_node(m.body[i]).count("\n")
            i += 1
        self._next = (i, line)
        return self._offsets[id(stmt)]

    def _table(self, stmt):
        entry = self._tables.get(id(stmt))
        if entry is None:
            m = self.module
            single = cst.Module(body=[stmt], header=[], footer=[], default_indent=m.default_indent,
                                default_newline=m.default_newline)
            table = MetadataWrapper(single, unsafe_skip_copy=True).resolve(PositionProvider)
            entry = self._tables[id(stmt)] = (self._offset_of(stmt), table)
        return entry

    def __getitem__(self, node) -> tuple[int, int]:
        """(line, column) of ``node``, column 1-based; KeyError when the node
        is not in the original tree (a node the translation made)."""
        if self.current is not None:
            stmts = [self.current]
        else:
            stmts = self.module.body
        for stmt in stmts:
            offset, table = self._table(stmt)
            rng = table.get(node)
            if rng is not None:
                return rng.start.line + offset, rng.start.column + 1
        raise KeyError(node)
