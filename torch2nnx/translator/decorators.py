"""Decorations and wrappers that mean nothing in JAX: TorchScript, compile,
tracing and registration (the DROP and ``unwrap`` rows of rules/torch_only.py).

A decorator naming or calling such a row goes, on a function, a method or a
class alike (``@torch.jit.script``, ``@torch.compile(mode=...)``,
``@torch.jit.interface``, ``@register_notrace_module``); a statement that only
calls one (``torch.jit.script(fn)`` whose result is unused) goes too; and the
identity decorator a wrapper called without its value becomes
(``torch.compile(mode=...)(fn)``) applied to a value is that value.
"""

from __future__ import annotations

import libcst as cst

from ..rules import registry
from ..rules.torch_only import DROP, IDENTITY, wraps

_code = cst.Module([]).code_for_node


def wrapper_rule(f, node):
    """The row of a torch wrapper that ``node`` names or calls, else None."""
    func = node.func if isinstance(node, cst.Call) else node
    q = f.imports.qualify(func)
    rule = registry.lookup(q) if q else None
    return rule if rule is not None and wraps(rule) else None


def removable_decorator(f, original: cst.Decorator, updated: cst.Decorator) -> bool:
    d = updated.decorator
    if isinstance(d, cst.Name) and d.value == DROP:
        return True
    if _code(d) == IDENTITY:
        return True
    return wrapper_rule(f, original.decorator) is not None


def unused_wrapper_call(f, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine) -> bool:
    """``torch.jit.script(fn)`` as a statement, or ``fn = torch.jit.script(fn)``
    (now ``fn = fn``): nothing is left for it to do."""
    if len(original.body) != 1 or len(updated.body) != 1:
        return False
    small, new = original.body[0], updated.body[0]
    if isinstance(small, cst.Expr):
        return isinstance(small.value, cst.Call) and wrapper_rule(f, small.value) is not None
    return isinstance(small, cst.Assign) and isinstance(small.value, cst.Call) \
        and wrapper_rule(f, small.value) is not None and isinstance(new, cst.Assign) and len(new.targets) == 1 \
        and isinstance(new.targets[0].target, cst.Name) and isinstance(new.value, cst.Name) \
        and new.targets[0].target.value == new.value.value


def applied_identity(updated: cst.Call):
    """``(lambda fn: fn)(value)`` -> ``value``; None for any other call."""
    if len(updated.args) == 1 and not updated.args[0].star and updated.args[0].keyword is None \
            and _code(updated.func) == IDENTITY:
        return updated.args[0].value
    return None


def class_decorators(f, node: cst.ClassDef) -> list:
    """A translated class's decorators, with the torch wrappers gone and the
    rest translated like any module-level expression."""
    from .function_rewriter import FunctionRewriter

    out = []
    for d in node.decorators:
        new = FunctionRewriter(f, None, "<module>", [], {}).walk(d)
        if isinstance(new, cst.Decorator):
            out.append(new)
    return out
