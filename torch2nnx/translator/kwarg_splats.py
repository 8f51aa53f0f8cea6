"""``**kwargs`` handed on to a row's own ``**`` parameter.

``rearrange(x, 'b (h w) d -> b d h w', **fmap_dims)`` (vit-pytorch's RvT):
which names ``fmap_dims`` holds is known at run time only, but the row takes
any keywords (``**axes_lengths``) and puts them on its translation's call
unchanged. Such a splat is bound as a placeholder keyword, the row is applied
as usual (layouts and all), and the placeholder in the result becomes the
splat again. A row that does not hand its keywords on as written (the
placeholder is not a keyword of the result) gets the TODO it got before.
"""

from __future__ import annotations

import libcst as cst

from ..rules.base import Rule, parse_params

_PLACEHOLDER = "_t2n_splat_{}_"


class _PutBack(cst.CSTTransformer):
    def __init__(self, splats: dict[str, cst.BaseExpression]):
        self.splats = splats
        self.found: set[str] = set()

    def leave_Arg(self, original, updated):
        k = updated.keyword
        if k is not None and k.value in self.splats and self.splats[k.value].deep_equals(updated.value):
            self.found.add(k.value)
            return updated.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT, star="**")
        return updated


def takes_any_keyword(rule: Rule) -> bool:
    return any(k == "varkw" for _, _, k in parse_params(rule.params))


def with_placeholders(call: cst.Call) -> tuple[cst.Call, dict[str, cst.BaseExpression]] | None:
    """The call with each ``**splat`` as a placeholder keyword; None when it has
    none, or a ``*args`` (what that fills is decided at run time too)."""
    splats: dict[str, cst.BaseExpression] = {}
    args = []
    for a in call.args:
        if a.star == "*":
            return None
        if a.star == "**":
            name = _PLACEHOLDER.format(len(splats))
            splats[name] = a.value
            a = a.with_changes(star="", keyword=cst.Name(name),
                               equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                     whitespace_after=cst.SimpleWhitespace("")))
        args.append(a)
    return (call.with_changes(args=args), splats) if splats else None


def put_back(result: cst.CSTNode, splats: dict[str, cst.BaseExpression]) -> cst.CSTNode | None:
    """``result`` with the placeholders made splats again; None when one of them
    is not a keyword of the result (the row used it otherwise, or dropped it)."""
    t = _PutBack(splats)
    new = result.visit(t)
    if t.found != set(splats) or _PLACEHOLDER.format("")[:-1] in cst.Module([]).code_for_node(new):
        return None
    return new


def expanded(rule: Rule, call: cst.Call) -> cst.Call | None:
    """``F.conv2d(input=x, weight=w, **self.conv_kwargs)`` (pytorchcv's OctConv)
    for a row of named parameters only: each parameter the call does not bind
    itself read from the dict at run time (``self.conv_kwargs.get("stride", 1)``,
    the row's default where the dict has none), so the row applies as usual,
    layouts and all. None unless the splat is one ``**`` of a name or attribute
    (read once per parameter, no side effects) and the call has no ``*args``."""
    splats = [a for a in call.args if a.star == "**"]
    if len(splats) != 1 or any(a.star == "*" for a in call.args) \
            or not isinstance(splats[0].value, (cst.Name, cst.Attribute)):
        return None
    spec = parse_params(rule.params)
    if any(k in ("varargs", "varkw") for _, _, k in spec):
        return None
    from ..rules.base import _REQUIRED

    source = cst.Module([]).code_for_node(splats[0].value)
    given = [a for a in call.args if a.star == ""]
    n_pos = sum(1 for a in given if a.keyword is None)
    named = {a.keyword.value for a in given if a.keyword is not None}
    args = list(given)
    for i, (name, default, kind) in enumerate(spec):
        if name in named or (kind == "pos" and i < n_pos):
            continue
        read = f'{source}["{name}"]' if default is _REQUIRED else f'{source}.get("{name}", {default})'
        args.append(cst.Arg(keyword=cst.Name(name), value=cst.parse_expression(read),
                            equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                  whitespace_after=cst.SimpleWhitespace(""))))
    return call.with_changes(args=args)
