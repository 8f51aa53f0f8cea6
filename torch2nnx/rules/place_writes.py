"""Writing into a place that torch code writes in place, and NNX cannot.

torch's in-place writes (``nn.init.ones_(fc.bias[n:])``, ``w[:, 0].zero_()``) change
the tensor a slice or a view was taken from. In the translation the place is an
``nnx.Variable`` (or a local array) read through subscripts and, for a layer's
kernel read in torch's order, ``jnp.transpose(kernel, axes)``: reading it gives a
new array, so a write is spelled as the whole place's new value, built from the
outside in::

    fc.bias[n:]                      -> inplace_set(fc.bias, jnp.asarray(fc.bias).at[n:].set(v))
    jnp.transpose(k, (1, 0))[..., :3] -> inplace_set_view(k, jnp.transpose(k, (1, 0)).at[..., :3].set(v), (1, 0))

``inplace_set`` writes into a Variable (every holder sees it, as in torch) and
returns it, or returns the new array for a plain array (the caller rebinds the
name). A value that is no such place (a call's result) has no place to write to:
``None``, and the caller reports it.
"""

from __future__ import annotations

import ast
from typing import Callable, Optional

import libcst as cst

_MODULE = cst.Module(body=[])


def _code(node: cst.CSTNode) -> str:
    return _MODULE.code_for_node(node)


# attributes of an array that give another array (x.T): no place of their own
_ARRAY_VIEWS = {"T", "mT", "H", "mH", "real", "imag"}


def _dotted(node) -> bool:
    while isinstance(node, cst.Attribute):
        if node.attr.value in _ARRAY_VIEWS:
            return False
        node = node.value
    return isinstance(node, cst.Name)


def transposed_view(node) -> Optional[tuple[cst.BaseExpression, tuple]]:
    """``jnp.transpose(place, (1, 0))`` (a place read in another order, such as a
    layer's kernel in torch's): (place, axes), else None."""
    if isinstance(node, cst.Call) and _code(node.func) == "jnp.transpose" and len(node.args) == 2 \
            and _dotted(node.args[0].value):
        try:
            axes = ast.literal_eval(_code(node.args[1].value))
        except (ValueError, SyntaxError):
            return None
        if isinstance(axes, tuple) and all(isinstance(a, int) for a in axes):
            return node.args[0].value, axes
    return None


def write_through(target: cst.BaseExpression, value: str,
                  helper: Callable[[str], str]) -> Optional[tuple[cst.BaseExpression, str]]:
    """(the place written, the source of its new value) for ``target = value`` in
    torch's in-place sense; None when ``target`` is no place (nothing to write to)."""
    if _dotted(target):
        return target, f"{helper('inplace_set')}({_code(target)}, {value})"
    view = transposed_view(target)
    if view is not None:
        base, axes = view
        return base, f"{helper('inplace_set_view')}({_code(base)}, {value}, {axes})"
    if isinstance(target, cst.Subscript):
        inner = target.value
        idx = ", ".join(_code(e.slice) for e in target.slice)
        read = _code(inner) if transposed_view(inner) is not None else f"jnp.asarray({_code(inner)})"
        return write_through(inner, f"{read}.at[{idx}].set({value})", helper)
    return None


def is_layer_attr_read(node) -> bool:
    """``torch_layer_attr(m.bn, "weight")`` (or its helper alias): a layer's attribute
    read at run time, on a module the translator could not type: the layer's Variable."""
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) \
        and node.func.value in ("torch_layer_attr", "_t2n_torch_layer_attr")  # context.HELPER_ALIAS


def is_place(src: str) -> bool:
    """A Name/Attribute chain: a place that may hold a Variable, written with set_value;
    or a layer's attribute read at run time (``torch_layer_attr(m.bn, "weight")``: the
    layer's Variable, on a module the translator could not type)."""
    try:
        node = cst.parse_expression(src)
    except cst.ParserSyntaxError:
        return False
    return is_layer_attr_read(node) or _dotted(node)


def keeps_rank(src: str) -> bool:
    """Subscripts of a place with slices only (``w[n:]``, ``k[:, :, :, 2:]``): the
    slice has the place's axes in the place's order."""
    node = cst.parse_expression(src)
    while isinstance(node, cst.Subscript):
        for e in node.slice:
            if not isinstance(e.slice, cst.Slice):
                return False
        node = node.value
    return _dotted(node)
