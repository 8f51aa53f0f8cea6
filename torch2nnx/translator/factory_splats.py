"""Stateful torch layers built with a ``**dict`` whose keys are only known at run time.

timm hands torch's factory keywords on through a dict that a helper receives
as a parameter (EfficientViM's ``_build_heads(num_classes, dd)`` then
``nn.Linear(dim, num_classes, **dd)``): ``splats.py`` cannot write it out. A
row that builds an NNX layer (``nnx.Linear``) is bound on the call's other
arguments, and each splat goes through ``factory_kwargs`` at run time: torch's
``device`` and ``dtype`` are dropped as the row drops them when written out;
any other key (a parameter the row would have to bind) is refused when the
layer is built, never silently ignored.
"""

from __future__ import annotations

import libcst as cst


def code(node) -> str:
    return cst.Module([]).code_for_node(node)


def factory_splat_call(rw, original, updated: cst.Call, rule):
    """The row applied to ``updated`` without its ``**`` splats, each splat handed
    to ``factory_kwargs`` inside the built call; None when it does not apply."""
    if not (rule.layer and rule.stateful) or rule.kwargs_adapter is not None:
        return None
    splats = [a for a in updated.args if a.star == "**"]
    if not splats or any(a.star == "*" for a in updated.args):
        return None
    if not any(n in ("device", "dtype") for n in _param_names(rule)):
        return None
    stripped = updated.with_changes(args=[a for a in updated.args if a.star != "**"])
    pos, kw, nodes = rw.call_args(stripped)
    if pos is None:
        return None
    node = rw.apply_rule(original, rule, pos, kw, nodes)
    if not isinstance(node, cst.Call) or node is original:
        return node
    tag = rw.tag(node)
    helper = rw.build_ctx.helper("factory_kwargs")
    extra = [cst.Arg(value=cst.parse_expression(f"{helper}({code(a.value)}, {rule.name!r})"), star="**") for a in splats]
    args = list(node.args)
    at = next((i for i, a in enumerate(args) if a.keyword is not None and a.keyword.value == "rngs"), len(args))
    args = args[:at] + extra + args[at:]
    for i in range(len(args) - 1):
        args[i] = args[i].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return rw.set(node.with_changes(args=args), tag)


def _param_names(rule):
    from ..rules.base import parse_params

    return [n for n, _, _ in parse_params(rule.params)]
