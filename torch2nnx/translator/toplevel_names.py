"""Names a source file binds at module level, for helpers that must not be shadowed.

An emitted runtime helper is a module-level definition of the output file. A
name the source binds itself at module level -- a ``def rms_norm`` of its own,
or ``from .fast_norm import rms_norm`` in the fallback branch of a
``try: from torch.nn.functional import rms_norm`` -- would replace the helper
for every call after it (timm's fast_norm/norm: F.rms_norm rewritten to the
helper, then reached torch's function through the import). Code reaches such a
helper under its alias (``_t2n_rms_norm = rms_norm``, bound right after the
helpers, before the source rebinds the name).

Torch imports are left out: they are dropped from the output.
"""

from __future__ import annotations

import libcst as cst

from .imports import dotted, dropped_module


def _import_names(small) -> set[str]:
    if isinstance(small, cst.Import):
        if all(dropped_module(dotted(a.name) or "") for a in small.names):
            return set()
        return {a.asname.name.value if a.asname else (dotted(a.name) or "").split(".")[0] for a in small.names}
    if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
        if not small.relative and small.module is not None and dropped_module(dotted(small.module) or ""):
            return set()
        return {a.asname.name.value if a.asname else (dotted(a.name) or "") for a in small.names}
    return set()


def _targets(node, out: set[str]) -> None:
    if isinstance(node, cst.Name):
        out.add(node.value)
    elif isinstance(node, (cst.Tuple, cst.List)):
        for e in node.elements:
            _targets(e.value, out)
    elif isinstance(node, cst.StarredElement):
        _targets(node.value, out)


def _statements(body, out: set[str]) -> None:
    for stmt in body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            out.add(stmt.name.value)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                out |= _import_names(small)
                if isinstance(small, cst.Assign):
                    for t in small.targets:
                        _targets(t.target, out)
                elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                    _targets(small.target, out)
        elif isinstance(stmt, cst.Try):
            _statements(stmt.body.body, out)
            for h in stmt.handlers:
                _statements(h.body.body, out)
            for extra in (stmt.orelse, stmt.finalbody):
                if extra is not None:
                    _statements(extra.body.body, out)
        elif isinstance(stmt, cst.If):
            _statements(stmt.body.body, out)
            orelse = stmt.orelse
            while orelse is not None:
                _statements(orelse.body.body, out)
                orelse = getattr(orelse, "orelse", None)
        elif isinstance(stmt, (cst.For, cst.While, cst.With)):
            if isinstance(stmt, cst.For):
                _targets(stmt.target, out)
            _statements(stmt.body.body, out)


def module_level_names(module: cst.Module) -> set[str]:
    """Names bound at module level (also in top-level try/if/for/with blocks), torch imports aside."""
    out: set[str] = set()
    _statements(module.body, out)
    return out
