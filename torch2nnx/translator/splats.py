"""Keyword splats of dicts whose keys are known: written out before the rewrite.

Real model code hands factory arguments on through a dict:

    dd = {'device': device, 'dtype': dtype}      # or dict(device=device, dtype=dtype)
    self.proj = nn.Conv2d(cin, cout, 3, **dd)

The rows see keywords, never a dict: ``**dd`` becomes ``device=device,
dtype=dtype`` where ``dd`` is a local of the same function bound once to a
dict display (or ``dict(...)`` call) with identifier keys and used only as
``**dd``. A value that the function may rebind is read from the dict
(``dtype=dd["dtype"]``), so the call sees what it saw before. Python
semantics are unchanged.
"""

from __future__ import annotations

import keyword

import libcst as cst

from .fastvisit import FastTransformer, FastVisitor


def _dict_items(value) -> list[tuple[str, cst.BaseExpression]] | None:
    """(key, value) pairs of a dict display / dict(...) call with identifier keys."""
    items = []
    if isinstance(value, cst.Dict):
        for el in value.elements:
            if not isinstance(el, cst.DictElement) or not isinstance(el.key, cst.SimpleString):
                return None
            key = el.key.evaluated_value
            if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
                return None
            items.append((key, el.value))
        return items
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "dict":
        for a in value.args:
            if a.keyword is None or a.star:
                return None
            items.append((a.keyword.value, a.value))
        return items
    return None


class _Uses(FastVisitor):
    """Within one function (not nested ones): assignments and uses of names."""

    def __init__(self):
        self.assigned: dict[str, int] = {}
        self.dicts: dict[str, list] = {}
        self.splatted: dict[str, int] = {}
        self.loaded: dict[str, int] = {}
        self._splat_names: set[int] = set()
        self._targets: set[int] = set()
        self.touched: set[str] = set()  # receivers of a method or item access (dd.update(...), dd[k] = v)

    def visit_FunctionDef(self, node):
        return False  # nested functions have scopes of their own

    def visit_Lambda(self, node):
        return False

    def visit_ClassDef(self, node):
        return False

    def _bind(self, target):
        if isinstance(target, cst.Name):
            self.assigned[target.value] = self.assigned.get(target.value, 0) + 1
            self._targets.add(id(target))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self._bind(el.value)
        elif isinstance(target, cst.StarredElement):
            self._bind(target.value)

    def visit_Assign(self, node):
        for t in node.targets:
            self._bind(t.target)
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            items = _dict_items(node.value)
            if items is not None:
                self.dicts[node.targets[0].target.value] = items

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self._bind(node.target)

    def visit_AugAssign(self, node):
        self._bind(node.target)

    def visit_For(self, node):
        self._bind(node.target)

    def visit_CompFor(self, node):
        self._bind(node.target)

    def visit_WithItem(self, node):
        if node.asname is not None:
            self._bind(node.asname.name)

    def visit_NamedExpr(self, node):
        self._bind(node.target)

    def visit_Global(self, node):
        for n in node.names:
            self.assigned[n.name.value] = 99

    def visit_Nonlocal(self, node):
        for n in node.names:
            self.assigned[n.name.value] = 99

    def visit_Arg(self, node):
        if node.star == "**" and isinstance(node.value, cst.Name):
            self.splatted[node.value.value] = self.splatted.get(node.value.value, 0) + 1
            self._splat_names.add(id(node.value))

    def visit_Attribute(self, node):
        if isinstance(node.value, cst.Name):
            self.touched.add(node.value.value)

    def visit_Subscript(self, node):
        if isinstance(node.value, cst.Name):
            self.touched.add(node.value.value)

    def visit_Del(self, node):
        if isinstance(node.target, cst.Name):
            self.touched.add(node.target.value)

    def visit_Name(self, node):
        if id(node) not in self._splat_names and id(node) not in self._targets:
            self.loaded[node.value] = self.loaded.get(node.value, 0) + 1


class _Expand(FastTransformer):
    def __init__(self, dicts: dict[str, list], stable: set[str], shared: set[str] = frozenset()):
        self.dicts = dicts
        self.stable = stable
        self.shared = shared  # dicts handed on as values too: read at the call

    def visit_FunctionDef(self, node):
        return False

    def visit_ClassDef(self, node):
        return False

    def leave_Call(self, original, updated):
        if not any(a.star == "**" and isinstance(a.value, cst.Name) and a.value.value in self.dicts
                   for a in updated.args):
            return updated
        given = {a.keyword.value for a in updated.args if a.keyword is not None}
        args = []
        for a in updated.args:
            name = a.value.value if a.star == "**" and isinstance(a.value, cst.Name) else None
            if name not in self.dicts:
                args.append(a)
                continue
            items = self.dicts[name]
            if any(k in given for k, _ in items):
                return updated  # a duplicate keyword: a TypeError either way, left as written
            for key, value in items:
                if name in self.shared or not _stable(value, self.stable):
                    value = cst.Subscript(cst.Name(name), [cst.SubscriptElement(cst.Index(cst.SimpleString(repr(key))))])
                args.append(cst.Arg(value=value, keyword=cst.Name(key), equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))))
        for i in range(len(args) - 1):
            args[i] = args[i].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        if args:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(args=args)


def _stable(value, stable: set[str]) -> bool:
    """A value the function cannot change between the dict and the call."""
    if isinstance(value, cst.Name):
        return value.value in stable or value.value in ("None", "True", "False")
    return isinstance(value, (cst.SimpleString, cst.Integer, cst.Float))


def _params(fn: cst.FunctionDef) -> set[str]:
    p = fn.params
    names = [a.name.value for a in list(p.posonly_params) + list(p.params) + list(p.kwonly_params)]
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            names.append(star.name.value)
    return set(names)


def expand_function(fn: cst.FunctionDef) -> cst.FunctionDef:
    uses = _Uses()
    for stmt in fn.body.body:
        uses.walk(stmt)
    # a dict also handed on as a value (``self._build_heads(n, dd)``, timm's EfficientViM)
    # is still written out where it is splatted, every value read from the dict at the
    # call; one the function reads or changes as a dict (dd.update, dd[k] = v) is not
    dicts = {n: items for n, items in uses.dicts.items()
             if uses.assigned.get(n) == 1 and uses.splatted.get(n) and n not in uses.touched}
    if not dicts:
        return fn
    # names the function never rebinds (its parameters, names it only reads)
    stable = {n for n in _params(fn) | set(uses.loaded) if not uses.assigned.get(n)}
    shared = {n for n in dicts if uses.loaded.get(n)}
    return fn.with_changes(body=_Expand(dicts, stable, shared).walk(fn.body))


class _Functions(FastTransformer):
    def leave_FunctionDef(self, original, updated):
        return expand_function(updated)


def expand_splats(module: cst.Module, source: str) -> cst.Module:
    """Every function's statically known ``**dict`` splats, written out."""
    if "**" not in source:
        return module
    return _Functions().walk(module)
