"""The file's import table: local names resolved to qualified torch names.

A dictionary built from the module's import statements is all the name
resolution the translator needs (``nn.Conv2d``, ``torch.nn.Conv2d`` and
``from torch.nn import Conv2d as C`` are one thing). LibCST's
QualifiedNameProvider would do the same at several times the cost of parsing.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

# Packages whose names the rules know about (torchvision's layers, einops' torch layers).
TORCH_ROOTS = ("torch", "torchvision", "einops")
# Packages whose imports are dropped from the output: every use is rewritten or
# marked. torchvision and einops imports stay (weights plumbing, einops on jax).
DROPPED_ROOTS = ("torch",)
# torch's data pipelines (datasets, data loaders, samplers) and torchvision's
# transforms and datasets are not model code: kept as torch code, their imports
# stay (translator/kept_data.py)
KEPT_MODULES = ("torch.utils.data", "torchvision.transforms", "torchvision.datasets")
# modules of other roots that import torch (einops' torch layers become einops calls on jax arrays)
DROPPED_MODULES = ("einops.layers.torch",)


def dropped_module(qualified: str) -> bool:
    """An import of this module (or name in it) is dropped from the output."""
    if kept_module(qualified):
        return False
    return qualified.split(".")[0] in DROPPED_ROOTS or any(
        qualified == m or qualified.startswith(m + ".") for m in DROPPED_MODULES) or user_module(qualified)


def user_module(qualified: str | None) -> bool:
    """A name in a module that user rows cover (rules/user.py): translated like
    torch's, its import dropped, a name of it no row knows marked TODO."""
    from ..rules.registry import user_modules

    mods = user_modules()
    if not mods or not qualified:
        return False
    return any(qualified == m or qualified.startswith(m + ".") for m in mods)


def user_package(local: str, qualified: str) -> bool:
    """``import mylib.ops`` binds ``mylib``, a package holding a user rows' module:
    the import is dropped, so what still reads ``mylib`` is a leftover."""
    from ..rules.registry import user_modules

    mods = user_modules()
    return bool(mods) and local == qualified and any(m.startswith(qualified + ".") for m in mods)


def torch_like(qualified: str | None) -> bool:
    """A name the rules translate: torch's (and torchvision's, einops'), a user row's module,
    or another library's name the rules provide (transformers' PreTrainedModel)."""
    return bool(qualified) and (qualified.split(".")[0] in TORCH_ROOTS or user_module(qualified)
                                or provided(qualified))


def kept_module(qualified: str | None) -> bool:
    """A name of a torch data pipeline module, kept as torch code."""
    return bool(qualified) and any(qualified == m or qualified.startswith(m + ".") for m in KEPT_MODULES)


def dotted(node: cst.BaseExpression) -> Optional[str]:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def module_name(node) -> str:
    return dotted(node) or ""


# torch re-exports: names users write that live elsewhere.
ALIASES = {
    "torch.nn.modules.conv.Conv2d": "torch.nn.Conv2d",
    "torch.Tensor": "torch.Tensor",
}


class ImportTable:
    def __init__(self, package: Optional[str] = None, star=None) -> None:
        self.names: dict[str, str] = {}  # local name -> qualified name
        self.relative: set[str] = set()
        self.starred: set[str] = set()  # names bound by `from m import *`: the file re-exports them
        self.star_modules: set[str] = set()  # the package's modules star-imported (a file depends on them)
        self.package = package  # the source file's package, to resolve relative imports
        # module -> {name: qualified name} it exports, for `from .activations import *`
        # (follow.star_exports); None: star imports bind nothing known
        self.star = star

    @classmethod
    def from_module(cls, module: cst.Module, package: Optional[str] = None, star=None) -> "ImportTable":
        table = cls(package, star)
        for stmt in module.body:
            # imports inside `try:`/`if TYPE_CHECKING:` count too, one level deep
            bodies = [stmt]
            if isinstance(stmt, (cst.Try, cst.If)):
                bodies = list(stmt.body.body)
            for s in bodies:
                if isinstance(s, cst.SimpleStatementLine):
                    for small in s.body:
                        table.add(small)
        return table

    def add(self, small) -> None:
        if isinstance(small, cst.Import):
            for alias in small.names:
                full = module_name(alias.name)
                if alias.asname is not None:
                    self.names[alias.asname.name.value] = full
                else:
                    root = full.split(".")[0]
                    self.names[root] = root
        elif isinstance(small, cst.ImportFrom):
            if small.relative:
                base = absolute_module(self.package, len(small.relative), module_name(small.module) if small.module else "")
                if isinstance(small.names, cst.ImportStar) and base:
                    self.star_modules.add(base)
                    for local, q in self._star(base).items():
                        self.relative.add(local)
                        self.starred.add(local)
                        self.names[local] = q
                if not isinstance(small.names, cst.ImportStar):
                    for alias in small.names:
                        local = (alias.asname.name.value if alias.asname else alias.name.value)
                        self.relative.add(local)
                        if base:
                            self.names[local] = f"{base}.{alias.name.value}"
                return
            mod = module_name(small.module)
            if isinstance(small.names, cst.ImportStar):
                if self.package and mod.split(".")[0] == self.package.split(".")[0]:
                    bound = self._star(mod)  # the package's own module: its names are known
                    self.star_modules.add(mod)
                    self.names.update(bound)
                    self.starred.update(bound)
                return
            for alias in small.names:
                name = module_name(alias.name)
                local = alias.asname.name.value if alias.asname else name
                self.names[local] = f"{mod}.{name}"

    def _star(self, module: str) -> dict[str, str]:
        return self.star(module) if self.star is not None else {}

    def qualify(self, node: cst.BaseExpression) -> Optional[str]:
        """The qualified name of an expression like ``nn.Conv2d``, if imported."""
        d = dotted(node)
        if d is None:
            return None
        head, _, rest = d.partition(".")
        if head not in self.names:
            return None
        full = self.names[head] + ("." + rest if rest else "")
        return canonical(full)

    def is_torch(self, qualified: Optional[str]) -> bool:
        return torch_like(qualified)

    def is_dropped(self, qualified: Optional[str]) -> bool:
        return bool(qualified) and (dropped_module(qualified) or provided(qualified))


def provided(qualified: str) -> bool:
    """A name of another library that the rules provide (transformers' PreTrainedModel,
    ACT2FN): its uses are rewritten like torch's, its import goes."""
    from ..rules import registry

    return registry.provided(qualified)


def canonical(name: str) -> str:
    """Collapse torch's internal module paths onto the public names."""
    for prefix in ("torch.nn.modules.", "torch.nn.modules"):
        if name.startswith(prefix):
            rest = name[len(prefix):].split(".", 1)
            if len(rest) == 2:
                return "torch.nn." + rest[1]
    if name.startswith("torch.nn.functional."):
        return name
    return ALIASES.get(name, name)


def absolute_module(package: Optional[str], dots: int, module: str) -> Optional[str]:
    """``from ..utils import x`` in package ``a.b`` -> ``a.utils``."""
    if not package:
        return None
    parts = package.split(".")
    if dots - 1 > len(parts):
        return None
    base = parts[: len(parts) - (dots - 1)]
    return ".".join(base + ([module] if module else []))
