"""Parameters and buffers read as arrays where JAX wants an array.

A translated parameter or buffer is an ``nnx.Variable`` attribute. Variables
take part in arithmetic and can be indexed, but handed to a JAX primitive
(``jax.lax.conv_general_dilated(x, self.filt, ...)``) or used as an index
(``self.biases[:, self.idxs]``) under ``nnx.jit`` they raise ("Triggering
__jax_array__() during abstractification"). In methods other than
``__init__``, such a read becomes ``self.filt[...]`` (the Variable's value)
where it is

- an argument of a ``jax.*`` call (``jnp`` functions convert Variables themselves),
- an argument of a plain function of the run that does not write it in place
  (torchvision's ``_get_relative_position_bias(self.table, self.index, ...)``
  indexes one with the other),
- an index of a subscript,
- the value bound to a local name (``weight = self.filt``), which then goes
  anywhere.

Only attributes that always hold a Variable qualify: assigned
``nn.Parameter(...)`` or ``nn.Buffer(...)`` or registered as a buffer with a tensor, never ``None``
(``self.bias = None`` stays as it is: ``None[...]`` would raise).
"""

from __future__ import annotations

import libcst as cst

from .fastvisit import FastTransformer, FastVisitor
from .imports import dotted


def _self_attr(node) -> str | None:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
        return node.attr.value
    return None


def _is_none(node) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


class _Assigned(FastVisitor):
    def __init__(self):
        self.variables: set[str] = set()
        self.other: set[str] = set()

    def visit_Assign(self, node):
        for t in node.targets:
            name = _self_attr(t.target)
            if name is None:
                continue
            v = node.value
            callee = dotted(v.func) if isinstance(v, cst.Call) else None
            # nn.Parameter(t), and nn.Buffer(t) (a buffer assigned: Swin's relative position index)
            if callee is not None and callee.rpartition(".")[2] in ("Parameter", "Buffer") and v.args \
                    and not _is_none(v.args[0].value):
                self.variables.add(name)
            elif _is_none(v):
                self.other.add(name)

    def visit_Call(self, node):
        callee = dotted(node.func)
        if callee is not None and callee.endswith("register_buffer") and len(node.args) >= 2:
            name = node.args[0].value
            if isinstance(name, cst.SimpleString):
                attr = name.evaluated_value
                (self.other if _is_none(node.args[1].value) else self.variables).add(attr)


def variable_attrs(cls_node: cst.ClassDef) -> set[str]:
    """Attributes of a torch class that always hold a parameter or buffer."""
    v = _Assigned()
    v.walk(cls_node)
    return v.variables - v.other


def _value(node):
    return cst.Subscript(value=node, slice=[cst.SubscriptElement(cst.Index(cst.Ellipsis()))])


class VariableReads(FastTransformer):
    def __init__(self, names: set[str], functions=frozenset()):
        self.names = names
        self.functions = functions

    def _wrap(self, node):
        return _value(node) if _self_attr(node) in self.names else node

    def leave_Call(self, original, updated):
        callee = dotted(updated.func)
        if callee is None or not (callee.startswith("jax.") or callee in self.functions):
            return updated
        args = [a.with_changes(value=self._wrap(a.value)) for a in updated.args]
        return updated.with_changes(args=args)

    def leave_SubscriptElement(self, original, updated):
        if isinstance(updated.slice, cst.Index):
            return updated.with_changes(slice=updated.slice.with_changes(value=self._wrap(updated.slice.value)))
        return updated

    def leave_Assign(self, original, updated):
        if all(isinstance(t.target, cst.Name) for t in updated.targets):
            return updated.with_changes(value=self._wrap(updated.value))
        return updated


def read_values(func: cst.FunctionDef, names: set[str], functions=frozenset()) -> cst.FunctionDef:
    """``func`` (a translated method) with its Variable reads as values where JAX needs them;
    ``functions``: the plain functions whose arguments are read as values too."""
    if not names:
        return func
    return func.with_changes(body=VariableReads(names, functions).walk(func.body))


def value_functions(f) -> set[str]:
    """The run's plain functions (this file's and imported ones) that write no argument
    in place: a Variable handed to one may be read as its value."""
    summaries = {**f.external_functions, **f.functions}
    return {n for n, s in summaries.items() if s is not None and not s.writes_params}
