"""How many dims a ``view``/``reshape`` target has.

``x.view(B, C, *size)`` has two sizes and as many more as ``size`` holds: its
rank is 2 + len(size), not 3. A starred size whose length cannot be read
leaves the rank unknown (an operand of unknown rank is taken in torch order,
correct), never counted as one axis (a rank-4 image taken for a rank-3 tensor
broadcasts wrongly next to a channels-last one)."""

from __future__ import annotations

from typing import Optional

import libcst as cst


def target_dims(args: list[tuple[str, cst.BaseExpression]], shape: Optional[cst.BaseExpression]):
    """The target's sizes as ``(node, starred)``: from the positional arguments
    of ``Tensor.view`` (``(source, node)``, a starred one's source starting
    with ``*``), or from one tuple or list of them (``x.view((B, -1))``,
    ``torch.reshape(x, (B, *s))``)."""
    dims = [(n, src.startswith("*")) for src, n in args]
    if len(dims) == 1 and not dims[0][1] and isinstance(dims[0][0], (cst.Tuple, cst.List)):
        dims = _elements(dims[0][0])
    if not dims and isinstance(shape, (cst.Tuple, cst.List)):
        dims = _elements(shape)
    return _spread(dims)


def _elements(node: cst.BaseExpression):
    return [(e.value, isinstance(e, cst.StarredElement)) for e in node.elements]


def _spread(dims):
    """A starred literal tuple or list (``*(1, 1)``) is its items."""
    out = []
    for node, starred in dims:
        if starred and isinstance(node, (cst.Tuple, cst.List)):
            out.extend(_spread(_elements(node)))
        else:
            out.append((node, starred))
    return out


def target_rank(dims) -> Optional[int]:
    """The number of sizes; ``None`` when a starred size hides it."""
    return None if any(starred for _, starred in dims) else len(dims)
