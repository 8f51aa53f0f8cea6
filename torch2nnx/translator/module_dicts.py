"""A module's ``_modules`` dictionary, read as torch's public methods.

torch keeps a module's children in ``self._modules`` (name -> child, in
registration order), and model code iterates it directly (pytorchcv:
``for block in self.blocks._modules.values(): x = block(x)``). NNX modules
have no such attribute. Before the analysis, reads of it become the methods
of torch's own API that return the same things, which the rows translate and
the layout engine follows like any loop over a container's children:

- ``m._modules.values()`` -> ``m.children()``
- ``m._modules.items()`` -> ``m.named_children()``
- ``m._modules.keys()`` -> ``(name for name, _ in m.named_children())``
- ``len(m._modules)``, ``len(m._modules.values())`` -> ``len(list(m.children()))``
- ``m._modules[k]`` (read) -> ``m.get_submodule(k)``

A write (``m._modules[k] = layer``) or any other use is left as it is (its
translation marks it).
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

_METHODS = {"values": "children", "items": "named_children"}


def _receiver(node) -> cst.BaseExpression | None:
    """``E`` of ``E._modules``."""
    if isinstance(node, cst.Attribute) and node.attr.value == "_modules":
        return node.value
    return None


class _ModuleDicts(cst.CSTTransformer):
    def __init__(self):
        self.targets: set[int] = set()  # subscripts written to
        self.views: set[int] = set()  # m._modules.values() / .items() calls (original nodes) rewritten

    def visit_AssignTarget(self, node):
        self.targets.add(id(node.target))

    def visit_AugAssign(self, node):
        self.targets.add(id(node.target))

    def visit_Del(self, node):
        self.targets.add(id(node.target))

    def leave_Call(self, original, updated):
        func = updated.func
        if isinstance(func, cst.Attribute) and not updated.args:
            recv = _receiver(func.value)
            if recv is not None and func.attr.value in _METHODS:
                self.views.add(id(original))
                return cst.Call(cst.Attribute(recv, cst.Name(_METHODS[func.attr.value])))
            if recv is not None and func.attr.value == "keys":
                pairs = cst.Call(cst.Attribute(recv, cst.Name("named_children")))
                return cst.GeneratorExp(cst.Name("name"), cst.CompFor(
                    target=cst.Tuple([cst.Element(cst.Name("name")), cst.Element(cst.Name("_"))],
                                     lpar=[], rpar=[]),
                    iter=pairs))
        if m.matches(func, m.Name("len")) and len(updated.args) == 1 and not updated.args[0].keyword:
            arg = updated.args[0].value
            recv = _receiver(arg)
            if recv is not None:
                arg = cst.Call(cst.Attribute(recv, cst.Name("children")))
            elif not (id(original.args[0].value) in self.views and isinstance(arg, cst.Call)):
                return updated
            # len(m._modules.values()): the children's iterator, counted
            return updated.with_changes(args=[cst.Arg(cst.Call(cst.Name("list"), [cst.Arg(arg)]))])
        return updated

    def leave_Subscript(self, original, updated):
        recv = _receiver(updated.value)
        if recv is None or id(original) in self.targets or len(updated.slice) != 1 \
                or not isinstance(updated.slice[0].slice, cst.Index):
            return updated
        return cst.Call(cst.Attribute(recv, cst.Name("get_submodule")), [cst.Arg(updated.slice[0].slice.value)])


def desugar_module_dicts(module: cst.Module, source: str) -> cst.Module:
    if "._modules" not in source:
        return module
    return module.visit(_ModuleDicts())
