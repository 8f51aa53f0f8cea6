"""Assembling the output: imports, emitted helper definitions, formatting."""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import black
import libcst as cst

RUNTIME = Path(__file__).resolve().parent.parent / "runtime"

# import lines for the names generated code uses
IMPORTS = {
    "functools": "import functools",
    "einops": "import einops",
    "math": "import math",
    "jax": "import jax",
    "jnp": "import jax.numpy as jnp",
    "np": "import numpy as np",
    "nnx": "from flax import nnx",
    "optax": "import optax",
    "typing": "import typing",
    "weakref": "import weakref",
}

# runtime files whose definitions are emitted as "helpers.py"'s: helpers kept in
# small modules of their own (losses.py; optim.py: torch.optim's optimizers and
# schedulers; resize_checks.py: antialiased resize, torch._assert; linalg_ops.py,
# index_updates.py, random_draws.py: torch.linalg, scatter and random functions;
# sampling.py: grid_sample, affine_grid; float_model.py: quantization-ready float
# modules, BatchNorm folding; process_queries.py: eager-only sequence ops, torch.hub paths;
# weight_norm.py: weight-normalised layers;
# data_io.py: batches from torch data loaders, saved training state; hf/: the
# transformers infrastructure modeling files import, rules/transformers_rules.py), one
# namespace in the generated code
HELPER_FILES = ("helpers.py", "data_io.py", "losses.py", "optim.py", "param_groups.py", "resize_checks.py",
                "linalg_ops.py", "index_updates.py", "random_draws.py", "sampling.py", "float_model.py",
                "process_queries.py", "weight_norm.py", "autograd_functions.py", "hf/pretrained.py",
                "hf/activations.py", "hf/attention.py", "hf/outputs.py", "hf/plumbing.py",
                "hf/rope.py", "hf/cache.py", "hf/generation.py",
                "hf/heads.py", "hf/backbone.py")


@lru_cache(maxsize=None)
def definitions(filename: str) -> dict[str, tuple[str, frozenset]]:
    """name -> (source, names it uses) for top-level defs of a runtime file
    (for "helpers.py": of every file of HELPER_FILES)."""
    if filename == "helpers.py":
        out = {}
        for extra in HELPER_FILES:
            defs = _file_definitions(extra)
            clash = set(defs) & set(out)
            if clash:
                raise RuntimeError(f"runtime helpers defined twice: {sorted(clash)}")
            out.update(defs)
        return out
    return _file_definitions(filename)


@lru_cache(maxsize=None)
def _file_definitions(filename: str) -> dict[str, tuple[str, frozenset]]:
    src = (RUNTIME / filename).read_text()
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            start = node.lineno - 1 - len(node.decorator_list)
            text = "".join(lines[start: node.end_lineno])
            # a parameter named like a helper (TorchLSTM's ``dropout``) does not use it
            params = {a.arg for n in ast.walk(node) if isinstance(n, ast.arguments)
                      for a in n.posonlyargs + n.args + n.kwonlyargs}
            used = frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id not in params)
            out[node.name] = (text, used)
    return out


def closure(names, filename: str) -> list[str]:
    """The requested definitions plus those they use, in file order."""
    defs = definitions(filename)
    want = set()
    stack = [n for n in names if n in defs]
    while stack:
        n = stack.pop()
        if n in want:
            continue
        want.add(n)
        stack.extend(u for u in defs[n][1] if u in defs and u not in want)
    return [n for n in defs if n in want]


def helper_source(names, filename: str = "helpers.py") -> str:
    defs = definitions(filename)
    # classes generated from rows (row_base.py), after the helpers they call
    from . import row_base

    generated = [n for n in names if n not in defs and row_base.row_for(n) is not None] \
        if filename == "helpers.py" else []
    names = set(names).union(*(row_base.uses(n) for n in generated))
    chosen = closure(names, filename)
    # tables generated from the rule rows that the chosen helpers read (TORCH_LAYER_NAMES)
    from .module_api import GENERATED

    used = set().union(*(defs[n][1] for n in chosen)) if chosen else set()
    tables = [GENERATED[g]() for g in sorted(GENERATED) if g in used and filename == "helpers.py"]
    return "\n\n".join(tables + [defs[n][0].rstrip() + "\n" for n in chosen]
                       + [row_base.source(n) for n in sorted(generated)])


BUFFER_CLASSES = {
    "Buffer": '''class Buffer(nnx.Variable):
    """A torch buffer that is part of the state_dict (register_buffer)."""
''',
    "NonPersistentBuffer": '''class NonPersistentBuffer(nnx.Variable):
    """A torch buffer with persistent=False: not in the state_dict."""
''',
}


# the order generated import lines are written in
IMPORT_ORDER = ("functools", "math", "typing", "weakref", "einops", "jax", "jnp", "np", "nnx", "optax")


def import_lines(needed, have=()) -> list[str]:
    """The import lines for the module names ``needed`` that ``have`` lacks."""
    return [IMPORTS[m] for m in IMPORT_ORDER if m in needed and m not in have]


# a module name followed by a dot (built from IMPORT_ORDER: one list to extend)
_NAME_RE = re.compile(r"\b(" + "|".join(IMPORT_ORDER) + r")\.")


def used_modules(code: str) -> set[str]:
    return set(_NAME_RE.findall(code))


def format_code(code: str, line_length: int) -> str:
    mode = black.Mode(line_length=line_length)
    try:
        return black.format_str(code, mode=mode)
    except Exception:  # black refuses some valid code (rare): keep it unformatted
        return code


def insert_point(module: cst.Module) -> int:
    """Index in module.body after the docstring and __future__ imports."""
    i = 0
    body = module.body
    if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
            and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
        i = 1
    while i < len(body) and isinstance(body[i], cst.SimpleStatementLine) and isinstance(body[i].body[0], cst.ImportFrom) \
            and body[i].body[0].module is not None and cst.Module([]).code_for_node(body[i].body[0].module) == "__future__":
        i += 1
    return i


def existing_imports(module: cst.Module) -> set[str]:
    """Names already bound by top-level imports (not to add twice)."""
    names = set()
    for s in module.body:
        if isinstance(s, cst.SimpleStatementLine):
            for small in s.body:
                if isinstance(small, cst.Import):
                    for a in small.names:
                        if a.asname:
                            names.add(a.asname.name.value)
                        else:
                            names.add(cst.Module([]).code_for_node(a.name).split(".")[0])
                elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                    for a in small.names:
                        names.add(a.asname.name.value if a.asname else cst.Module([]).code_for_node(a.name))
    return names


def referenced_helpers(helpers, code: str, shared: str | None) -> tuple[list, list, list]:
    """(helpers to define in the file, aliases it reads, helpers to import from
    the ``shared`` module): of ``helpers`` (what rewriting asked for), those the
    emitted ``code`` still names. A helper reading the importing file's own
    ``__name__`` (``weights_module``: the file next to it) is always the file's."""
    from .context import HELPER_ALIAS

    words = set(re.findall(r"\b\w+\b", code))
    aliases = sorted(a for a in helpers if a.startswith(HELPER_ALIAS) and a in words)
    # a name both ways: aliased where a function binds it (a local ``interpolate``
    # flag), plain in the file's other functions
    plain = {n for n in helpers if not n.startswith(HELPER_ALIAS) and n in words}
    behind = {a[len(HELPER_ALIAS):] for a in aliases}
    if shared is None:
        return sorted(plain | behind), aliases, []
    defs = definitions("helpers.py")
    own = sorted(n for n in plain | behind if n in defs and "__name__" in defs[n][1])
    return own, aliases, sorted(plain - set(own))


def row_import_lines(row_imports: dict, code: str) -> list[str]:
    """The imports rows asked for (BuildCtx.import_name) that ``code`` still names."""
    words = set(re.findall(r"\b\w+\b", code))
    out = []
    for local in sorted(row_imports):
        if local in words:
            module, name = row_imports[local]
            out.append(f"from {module} import {name}" + (f" as {local}" if local != name else ""))
    return out
