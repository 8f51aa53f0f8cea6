"""Files that fill another file's registry when torch imports it.

timm's ``mobilevit.py`` calls ``register_block('mobilevit', MobileVitBlock)``
at module level, filling ``byobnet._block_registry``. In torch, importing
``timm.models.byobnet`` runs the packages' ``__init__.py`` first (``timm``,
``timm.models``), and those import ``mobilevit``: the block is there whatever
the user imported. A translation of ``byobnet`` imported by itself runs the
same ``__init__.py`` files, which import the *torch* ``mobilevit``, filling
the torch registry. So:

- the run follows such files (:func:`registrants`), as it follows imports:
  their translations register into the translated registry, since their
  imports of the registry file name its translation;
- the registry file's translation imports them at its end
  (``from . import mobilevit_nnx``), as the package's ``__init__`` does in
  torch, so ``byobnet_nnx`` has every block ``byobnet`` has.

A registry function is a module-level function writing into a module-level
value of its file (``_registry[key] = fn``, ``_registry.update(...)``,
``global`` rebinding). A file registers into it when it calls one at module
level (a decorator of a module-level class counts). Only files torch imports
whenever the registry file is imported count: the import closure of the
registry file's packages' ``__init__.py`` files (or of the file itself).

Only import statements and module-level code are read; nothing is imported.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import libcst as cst

from .translator.imports import ImportTable, absolute_module, dotted

# methods that change the value they are called on
MUTATORS = frozenset({"append", "extend", "insert", "update", "setdefault", "add", "__setitem__",
                      "pop", "remove", "discard", "clear", "appendleft"})


def _assigned_globals(tree: ast.Module) -> set[str]:
    names = set()
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else \
            [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) else []
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _walk_own(func: ast.FunctionDef):
    """The nodes of ``func``'s body and of the functions it defines (a decorator
    factory's wrapper writes the registry), not entering lambdas or classes."""
    todo = list(func.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            todo.extend(node.body)
        elif not isinstance(node, (ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))


def _writes_module_value(func: ast.FunctionDef, globals_: set[str]) -> bool:
    nodes = list(_walk_own(func))
    params = {x.arg for f in [func, *(n for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]
              for a in [f.args] for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg)
              if x is not None}
    declared = {n for node in nodes if isinstance(node, ast.Global) for n in node.names}
    bound = {t.id for node in nodes if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For))
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
             if isinstance(t, ast.Name)}
    # the module's values: not shadowed by a parameter or a local binding
    module_values = (globals_ - params - bound) | declared

    def of_module(node) -> bool:
        while isinstance(node, (ast.Subscript, ast.Attribute)):
            node = node.value
        return isinstance(node, ast.Name) and node.id in module_values

    for node in nodes:
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(t, ast.Subscript) and of_module(t.value):
                    return True  # _registry[key] = fn
                if isinstance(t, ast.Name) and t.id in declared:
                    return True  # global _default; _default = fn
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in MUTATORS and of_module(node.func.value):
            return True  # _registry.update(...)
    return False


@lru_cache(maxsize=1024)
def registry_functions(source: str) -> frozenset[str]:
    """The module-level functions of ``source`` that write into its module-level values."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return frozenset()
    globals_ = _assigned_globals(tree)
    return frozenset(s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and _writes_module_value(s, globals_))


class _ModuleLevelCalls(cst.CSTVisitor):
    """The callees of module-level code: calls outside function and class bodies, decorators included."""

    def __init__(self):
        self.callees: list[cst.BaseExpression] = []

    def visit_Call(self, node) -> None:
        self.callees.append(node.func)

    def visit_Decorator(self, node) -> None:
        d = node.decorator
        self.callees.append(d.func if isinstance(d, cst.Call) else d)

    def visit_FunctionDef(self, node) -> bool:
        for d in node.decorators:
            d.visit(self)
        for p in (*node.params.params, *node.params.kwonly_params, *node.params.posonly_params):
            if p.default is not None:
                p.default.visit(self)
        return False

    def visit_ClassDef(self, node) -> bool:
        for d in node.decorators:
            d.visit(self)
        return False

    def visit_Lambda(self, node) -> bool:
        return False


# --- the files of a package and what they import -------------------------------------


@lru_cache(maxsize=8192)
def _text(path: str, mtime: float) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def text_of(path: Path) -> str:
    try:
        return _text(str(path), path.stat().st_mtime)
    except OSError:
        return ""


def _package_files(root: Path, top: str) -> dict[str, Path]:
    """{module name: file} for every module of the top-level package ``top``."""
    from .project import looks_translated

    out = {}
    base = root / top
    for p in sorted(base.rglob("*.py")):
        rel = p.relative_to(root).with_suffix("").parts
        if any(part.startswith(".") or part == "__pycache__" for part in rel) or looks_translated(p):
            continue  # translations written earlier are not the package's code
        mod = ".".join(rel[:-1] if rel[-1] == "__init__" else rel)
        out[mod] = p
    return out


@lru_cache(maxsize=8192)
def _import_nodes(text: str) -> tuple:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ()
    out = []
    for stmt in tree.body:  # imports inside `try:` / `if` count too, one level deep (as follow.py reads them)
        for s in (stmt.body if isinstance(stmt, (ast.Try, ast.If)) else [stmt]):
            if isinstance(s, (ast.Import, ast.ImportFrom)):
                out.append(s)
    return tuple(out)


def imported_modules(path: Path, module: str, files: dict[str, Path]) -> set[str]:
    """The modules of ``files`` that ``module`` (at ``path``) imports at module level:
    ``from .x import y`` imports ``x`` (and ``x.y`` when that is a module), and the
    packages above each (their ``__init__.py`` runs first)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in _import_nodes(text_of(path)):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        else:
            base = absolute_module(package, node.level, node.module or "") if node.level else node.module
            if not base:
                continue
            mods = [base] + [f"{base}.{a.name}" for a in node.names if a.name != "*"]
        for m in mods:
            parts = m.split(".")
            for i in range(1, len(parts) + 1):
                if ".".join(parts[:i]) in files:
                    out.add(".".join(parts[:i]))
    return out - {module}


def _importers(target: str, files: dict[str, Path]) -> set[str]:
    leaf = target.rpartition(".")[2]
    return {m for m, p in files.items() if m != target and leaf in text_of(p)
            and target in imported_modules(p, m, files)}


def imported_with(module: str, files: dict[str, Path], candidate: str) -> bool:
    """Does torch import ``candidate`` whenever ``module`` is imported? Whether
    the import closure of ``module`` and of its packages' ``__init__.py`` reaches it
    (searched backwards from ``candidate``: only files naming it are read)."""
    parts = module.split(".")
    sources = {".".join(parts[:i]) for i in range(1, len(parts))} | {module}
    seen = {candidate}
    todo = [candidate]
    while todo:
        m = todo.pop()
        for imp in sorted(_importers(m, files)):
            if imp in sources:
                return True
            if imp not in seen:
                seen.add(imp)
                todo.append(imp)
    return False


def _calls_into(path: Path, module: str, registry: str, functions: set[str], files: dict[str, Path]) -> bool:
    """Does ``module`` call one of ``registry``'s ``functions`` at module level?"""
    from .follow import Reexports, package_root, star_resolver, top_level
    from .rules import registry as rows

    tree = top_level(path)
    if tree is None:
        return False
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    table = ImportTable.from_module(tree, package, star=star_resolver(path, package))
    res = Reexports(package_root(path, package))
    wanted = {f"{registry}.{fn}" for fn in functions}
    v = _ModuleLevelCalls()
    for stmt in tree.body:
        stmt.visit(v)
    for callee in v.callees:
        q = table.qualify(callee)
        if q is not None and (q in wanted or res.resolve(q) in wanted) and rows.lookup(q) is None:
            return True  # (a call a row rewrites, torchvision's register_model, registers nothing)
    return False


def registrants(path: Path, package: str | None) -> list[Path]:
    """The files of ``path``'s package that call its registry functions at module
    level and that torch imports whenever ``path`` is imported, sorted."""
    from .follow import package_root

    if not package or path.name == "__init__.py":
        return []
    functions = registry_functions(text_of(path))
    if not functions:
        return []
    root = package_root(path, package)
    files = _package_files(root, package.split(".")[0])
    module = f"{package}.{path.stem}"
    out = []
    for m, p in files.items():
        if m == module or p.name == "__init__.py":
            continue  # a package's __init__ filling the registry would need translating itself: not followed
        text = text_of(p)
        if not any(fn in text for fn in functions):
            continue
        if _calls_into(p, m, module, functions, files) and imported_with(module, files, m):
            out.append(p.resolve())
    return sorted(out)
