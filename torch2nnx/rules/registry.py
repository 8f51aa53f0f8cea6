"""All rows, indexed for the passes. New coverage is a new row in one of the
table modules, never a branch here."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Optional

from .base import Rule


@lru_cache(maxsize=1)
def _tables():
    from . import activations, constants, containers, conv, functional, init, linear, methods, norm, pooling, tensor_ops, torch_only
    from . import attention, einops_rules, seq_ops  # issue 6: attention / transformer / einops rows

    calls: dict[str, Rule] = {}
    meths: dict[str, Rule] = {}
    props: dict[str, Rule] = {}
    consts: dict[str, Rule] = {}
    for mod in (linear, conv, norm, activations, pooling, containers, functional, tensor_ops, init, torch_only, attention, seq_ops, einops_rules):
        for r in mod.RULES:
            if r.name in calls:
                raise RuntimeError(f"duplicate rule {r.name}")
            calls[r.name] = r
    for r in methods.RULES:
        meths[r.name.split(".", 1)[1]] = r
    for r in methods.PROPERTIES + seq_ops.PROPERTIES:
        props[r.name.split(".", 1)[1]] = r
    for r in constants.RULES:
        consts[r.name] = r
    return calls, meths, props, consts


def all_rules() -> list[Rule]:
    calls, meths, props, consts = _tables()
    return list(calls.values()) + list(meths.values()) + list(props.values()) + list(consts.values())


def lookup(qualified: str) -> Optional[Rule]:
    return _tables()[0].get(qualified)


def method(name: str) -> Optional[Rule]:
    return _tables()[1].get(name)


def unambiguous_method(name: str) -> bool:
    r = method(name)
    return r is not None and not r.ambiguous


def tensor_property(name: str) -> Optional[Rule]:
    return _tables()[2].get(name)


def constant(qualified: str) -> Optional[Rule]:
    return _tables()[3].get(qualified)


def fingerprint() -> str:
    """Hash of the rule tables (for caches keyed on what the rules do)."""
    import inspect

    from . import activations, base, constants, containers, conv, functional, init, linear, methods, norm, pooling, tensor_ops, torch_only
    from . import attention, einops_rules, seq_ops
    h = hashlib.sha256()
    for mod in (base, linear, conv, norm, activations, pooling, containers, functional, tensor_ops, methods, constants, init, torch_only, attention, seq_ops, einops_rules):
        h.update(inspect.getsource(mod).encode())
    return h.hexdigest()[:16]
