"""All rows, indexed for the passes. New coverage is a new row in one of the
table modules, never a branch here."""

from __future__ import annotations

import hashlib
import importlib
from functools import lru_cache
from typing import Optional

from .base import Rule


# the table modules: RULES (calls), and METHODS (Tensor methods) where a module has them
_CALL_TABLES = ("linear", "conv", "norm", "activations", "pooling", "containers", "functional", "tensor_ops", "init",
                "torch_only", "torchvision_ops", "recurrent", "attention", "seq_ops", "einops_rules", "fft", "patches",
                "losses", "optim", "padding", "logical", "jnp_table", "math_rows", "linalg", "special",
                "index_updates", "random_ops", "transformers_rules")
_ALL_TABLES = ("base", "methods", "constants", "module_methods") + _CALL_TABLES


def _module(name: str):
    return importlib.import_module(f"{__package__}.{name}")


@lru_cache(maxsize=1)
def _tables():
    from . import constants, methods

    calls: dict[str, Rule] = {}
    meths: dict[str, Rule] = {}
    props: dict[str, Rule] = {}
    consts: dict[str, Rule] = {}
    for mod in map(_module, _CALL_TABLES):
        for r in mod.RULES:
            if r.name in calls:
                raise RuntimeError(f"duplicate rule {r.name}")
            calls[r.name] = r
    extra_methods = [r for mod in map(_module, _CALL_TABLES) for r in getattr(mod, "METHODS", [])]
    for r in methods.RULES + extra_methods:
        meths[r.name.split(".", 1)[1]] = r
    extra_properties = [r for mod in map(_module, _CALL_TABLES) for r in getattr(mod, "PROPERTIES", [])]
    for r in methods.PROPERTIES + extra_properties:
        props[r.name.split(".", 1)[1]] = r
    for r in constants.RULES + [r for mod in map(_module, _CALL_TABLES) for r in getattr(mod, "CONSTANTS", [])]:
        consts[r.name] = r
    for r in constants.FUNCTIONS:
        calls[r.name] = r
    dprops = {r.name.split(".", 1)[1]: r for r in constants.DTYPE_PROPERTIES}
    return calls, meths, props, consts, dprops


def all_rules() -> list[Rule]:
    calls, meths, props, consts, dprops = _tables()
    return list(calls.values()) + list(meths.values()) + list(props.values()) + list(consts.values()) \
        + list(dprops.values())


def lookup(qualified: str) -> Optional[Rule]:
    return _tables()[0].get(qualified)


def row(name: str) -> Optional[Rule]:
    """A call's or a Tensor method's row by its own name (``torch.nn.Conv2d``,
    ``Tensor.split``): how a pickled row is found again."""
    if name.startswith("Tensor."):
        return method(name.split(".", 1)[1])
    return lookup(name)


def method(name: str) -> Optional[Rule]:
    return _tables()[1].get(name)


def unambiguous_method(name: str) -> bool:
    r = method(name)
    return r is not None and not r.ambiguous


def tensor_property(name: str) -> Optional[Rule]:
    return _tables()[2].get(name)


def dtype_property(name: str) -> Optional[Rule]:
    return _tables()[4].get(name)


def constant(qualified: str) -> Optional[Rule]:
    return _tables()[3].get(qualified)


def module_base(qualified: str | None) -> Optional[Rule]:
    """The row of a library class that translated modules derive from (PreTrainedModel)."""
    r = _tables()[3].get(qualified) if qualified else None
    return r if r is not None and r.module_base else None


def provided(qualified: str | None) -> bool:
    """A library name the rules provide (a call or a value row): its import goes, its
    module is never followed or translated."""
    if not qualified or qualified.split(".")[0] in ("torch", "torchvision", "einops"):
        return False
    t = _tables()
    if qualified in t[0] or qualified in t[3]:
        return True
    parts = qualified.split(".")
    if any(".".join(parts[:i]) in t[3] for i in range(2, len(parts))):
        return False  # an attribute of a provided value (ALL_ATTENTION_FUNCTIONS.get_interface): the runtime's
    return any(f(qualified) for f in _libraries())


def followed(qualified: str) -> bool:
    """A run may follow an import of this name into its package's files: not into a
    library's own files the rules stand for (transformers' utils, configuration)."""
    return all(f(qualified) is not False for f in _follows())


@lru_cache(maxsize=1)
def _follows() -> tuple:
    return tuple(mod.follows for mod in map(_module, _CALL_TABLES) if hasattr(mod, "follows"))


@lru_cache(maxsize=1)
def _libraries() -> tuple:
    """Tables' predicates naming a library's torch code, rows or not (transformers_rules.library)."""
    return tuple(mod.library for mod in map(_module, _CALL_TABLES) if hasattr(mod, "library"))


def fingerprint() -> str:
    """Hash of the rule tables (for caches keyed on what the rules do)."""
    import inspect

    from pathlib import Path

    h = hashlib.sha256()
    for mod in map(_module, _ALL_TABLES):
        h.update(inspect.getsource(mod).encode())
    # and the translator's own code: a development checkout changes it under one version number
    root = Path(__file__).resolve().parent.parent
    for sub in ("translator", "runtime"):
        for p in sorted((root / sub).rglob("*.py")):
            h.update(p.read_bytes())
    return h.hexdigest()[:16]
