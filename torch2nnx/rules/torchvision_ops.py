"""torchvision's own layers (torchvision.ops.misc) whose behaviour the layout
engine must see: translating their classes would hide it behind a method."""

from __future__ import annotations

import ast

from .base import Example, Layout, Rule, Unsupported


def _dims(a):
    try:
        v = ast.literal_eval(a.src("dims"))
    except (ValueError, SyntaxError):
        return None
    return tuple(v) if isinstance(v, (list, tuple)) and all(isinstance(d, int) for d in v) else None


def _permute(a, ctx):
    dims = _dims(a)
    if dims is None:
        raise Unsupported("T2N002", "Permute needs literal dims")
    return f"functools.partial(jnp.transpose, axes={dims})"


RULES = [
    # in a Sequential the permutation only changes the layout tag where it can
    Rule("torchvision.ops.misc.Permute", "dims", _permute, layer=True, layout=Layout("permute"),
         layout_of=lambda a: Layout("permute", dims=tuple(map(str, _dims(a) or ()))),
         examples=(Example("torchvision.ops.misc.Permute([0, 2, 3, 1])", ("float32[2,3,4,5]",)),
                   Example("torchvision.ops.misc.Permute([0, 2, 1])", ("float32[2,3,4]",)))),
]
