"""Closures and lambdas that build layers take ``rngs`` of their own.

A function made inside a layer-building function and handed out as a value
(``lambda d: Block(d)``, timm's ``act_with_gamma`` returning its nested
``def _create(inplace=False): return GammaAct(...)``) is a layer factory to
whoever receives it: called where a layer class is expected, it is handed
``rngs=`` like any constructor. Its body builds layers with the enclosing
function's ``rngs``; so it takes a keyword-only ``rngs`` defaulting to those:
called with ``rngs`` it uses them, called bare (by the enclosing code) it
uses the ones it closed over.
"""

from __future__ import annotations

import libcst as cst


def takes_own_rngs(params: cst.Parameters, outer: str) -> cst.Parameters:
    """``params`` with a keyword-only ``rngs=<outer>`` added, unless it already
    takes ``rngs`` or ``**kwargs`` (whatever it forwards them to decides)."""
    if any(x.name.value == "rngs" for x in (*params.params, *params.kwonly_params, *params.posonly_params)) \
            or params.star_kwarg is not None:
        return params
    star = params.star_arg if isinstance(params.star_arg, cst.Param) else cst.ParamStar()
    rngs = cst.Param(cst.Name("rngs"), default=cst.parse_expression(outer),
                     equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
    return params.with_changes(star_arg=star, kwonly_params=[*params.kwonly_params, rngs])
