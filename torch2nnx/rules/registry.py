"""All rows, indexed for the passes. New coverage is a new row in one of the
table modules, never a branch here."""

from __future__ import annotations

import hashlib
import importlib
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

from .base import Rule
from .user import NONE, UserRules


# the table modules: RULES (calls), and METHODS (Tensor methods) where a module has them
_CALL_TABLES = ("linear", "conv", "norm", "activations", "pooling", "containers", "functional", "tensor_ops", "init",
                "torch_only", "torchvision_ops", "recurrent", "attention", "seq_ops", "einops_rules", "fft", "patches",
                "losses", "optim", "padding", "logical", "jnp_table", "math_rows", "linalg", "special",
                "index_updates", "random_ops", "sampling", "float_model", "process_queries", "weight_norm",
                "transformers_rules")
_ALL_TABLES = ("base", "methods", "constants", "module_methods") + _CALL_TABLES


def _module(name: str):
    return importlib.import_module(f"{__package__}.{name}")


# the rows users add (rules/user.py), in use until use_user_rules() changes them
_user: UserRules = NONE


@lru_cache(maxsize=1)
def _tables():
    calls, meths, props, consts, dprops = _builtin_tables()
    if _user.calls or _user.methods:
        calls = {**calls, **{r.name: r for r in _user.calls}}
        meths = {**meths, **{r.name.split(".", 1)[1]: r for r in _user.methods}}
    return calls, meths, props, consts, dprops


@lru_cache(maxsize=1)
def _builtin_tables():
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


def use_user_rules(modules: Sequence[str] = (), root: str | Path | None = None) -> UserRules:
    """Load the user rules ``modules`` (importable from ``root``, pyproject's
    directory, or the working directory) and make their rows part of every
    table, replacing the rows a previous call added; ``()`` removes them.
    Raises user.UserRulesError for a module that cannot be used."""
    from . import user

    global _user
    if not modules:
        loaded = NONE
    else:
        calls, meths = _builtin_tables()[:2]
        loaded = user.load(modules, root, set(calls), set(meths))
    if loaded.spec != _user.spec or loaded.digest != _user.digest:
        _user = loaded
        _clear_derived()
    return _user


@contextmanager
def user_rules(modules: Sequence[str] = (), root: str | Path | None = None):
    """``use_user_rules`` for a block; the previous rows come back after it."""
    before = _user
    try:
        yield use_user_rules(modules, root)
    finally:
        if _user is not before:
            _set(before)


def _set(loaded: UserRules) -> None:
    global _user
    _user = loaded
    _clear_derived()


def current_user_rules() -> UserRules:
    return _user


def user_spec() -> tuple:
    """What a worker process hands ``use_user_rules`` to see the same rows."""
    return _user.spec


def is_user_row(rule: Rule) -> bool:
    return rule.name in _user.origin and any(r is rule for r in _user.calls + _user.methods)


def user_origin(rule: Rule) -> Optional[str]:
    """The user module defining ``rule``, or None for a built-in row."""
    return _user.origin.get(rule.name) if is_user_row(rule) else None


@lru_cache(maxsize=1)
def user_modules() -> frozenset[str]:
    """The Python modules user rows name APIs of (see UserRules.modules_of_rows)."""
    return _user.modules_of_rows()


def _clear_derived() -> None:
    """Forget every table computed from the rows."""
    _tables.cache_clear()
    user_modules.cache_clear()
    from ..shared_helpers import _source
    from ..translator import kernel_layout, module_api, row_base

    for fn in (row_base._bases, row_base.source, module_api.torch_layer_names_source,
               module_api.torch_layer_attrs_source, kernel_layout.renamed_torch_params,
               kernel_layout.kept_torch_params, kernel_layout.renamed_torch_attrs, _source):
        fn.cache_clear()


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
        # a library the rules stand for (transformers); another package's rows (timm's
        # register_notrace_function) keep its import: the package's own translation
        # re-exports the name to the files that import it from there
        return any(f(qualified) for f in _libraries())
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
    if _user.modules:  # the user rules in use: a changed row translates differently
        h.update(f"user|{'|'.join(_user.modules)}|{_user.digest}".encode())
    # and the translator's own code: a development checkout changes it under one version number
    root = Path(__file__).resolve().parent.parent
    for sub in ("translator", "runtime"):
        for p in sorted((root / sub).rglob("*.py")):
            h.update(p.read_bytes())
    return h.hexdigest()[:16]
