"""Places, not values: assignment targets and the names a statement binds.

An assignment target says where a value goes. It is never rewritten as an
expression: ``self.device = d`` on a plain object stays an attribute
assignment (a Tensor-property row would make it ``None = d``), and
``x.data = y`` is not ``x = y``. Only the values read inside a target are
translated (``a[i].b = v`` reads ``a[i]``; ``x[i] = v`` reads ``i``).

The name a ``def``, ``class``, parameter, ``global`` or ``nonlocal`` binds is
not a use of what the name meant before: ``def _assert(...)`` after
``from torch import _assert`` defines a function, it does not call torch.

And a name bound by an import is a module (or what a module holds), never a
tensor: ``tf.device(...)`` or a function-local ``import torch`` then
``torch.device(d)`` read attributes of a module, which no Tensor-property row
may rewrite.

:class:`PlacesMixin` gives :class:`~torch2nnx.translator.function_rewriter.FunctionRewriter` the
hooks that record them; the rewriter consults ``is_store`` and ``_not_values``.
"""

from __future__ import annotations

import libcst as cst

from . import layout as L


def target_places(target):
    """The nodes of a target that are stores (a tuple target's elements, not the tuple)."""
    if isinstance(target, (cst.Tuple, cst.List)):
        for e in target.elements:
            yield from target_places(e.value)
    elif isinstance(target, (cst.StarredElement, cst.Element)):
        yield from target_places(target.value)
    elif isinstance(target, (cst.Name, cst.Attribute, cst.Subscript)):
        yield target


def import_bindings(small) -> list[str]:
    """The local names an import statement binds."""
    if isinstance(small, cst.Import):
        out = []
        for a in small.names:
            if a.asname is not None and isinstance(a.asname.name, cst.Name):
                out.append(a.asname.name.value)
            else:
                n = a.name
                while isinstance(n, cst.Attribute):
                    n = n.value
                out.append(n.value)
        return out
    if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
        return [a.asname.name.value if a.asname is not None and isinstance(a.asname.name, cst.Name)
                else a.name.value for a in small.names if isinstance(a.name, cst.Name)]
    return []


class PlacesMixin:
    """Records stores (original nodes) and bindings while a body is walked.

    Expects ``self._stores`` and ``self._not_values`` (sets of node ids) and
    ``self.env``/``self.f`` of the rewriter.
    """

    def init_places(self) -> None:
        self._stores: set[int] = set()  # original nodes an assignment writes to
        self._scopes: list[str] = []  # enclosing nested "class" / "def" bodies
        self._instance_params: list = []  # per nested def: (instance param, its tag before) or None
        self._local_imports: set[str] = set()  # names imports inside the body bind

    def is_store(self, original) -> bool:
        return id(original) in self._stores

    def add_store(self, target) -> None:
        for node in target_places(target):
            self._stores.add(id(node))

    def visit_Assign(self, node):
        for t in node.targets:
            self.add_store(t.target)

    def visit_AnnAssign(self, node):
        self.add_store(node.target)

    def visit_AugAssign(self, node):
        self.add_store(node.target)

    def visit_Del(self, node):
        self.add_store(node.target)

    def visit_CompFor(self, node):
        self.add_store(node.target)

    def visit_NamedExpr(self, node):
        self.add_store(node.target)

    def visit_AsName(self, node):
        # `with open(p) as f`, `except E as e`
        self.add_store(node.name)

    def visit_Param(self, node):
        self._not_values.add(id(node.name))

    def visit_ClassDef(self, node):
        self._not_values.add(id(node.name))
        self._scopes.append("class")

    def leave_ClassDef(self, original, updated):
        self._scopes.pop()
        return updated

    def visit_Global(self, node):
        self._not_values.update(id(n.name) for n in node.names)

    def visit_Nonlocal(self, node):
        self._not_values.update(id(n.name) for n in node.names)

    def enter_definition(self, node: cst.FunctionDef) -> None:
        """A nested ``def``: its name is a binding; the instance parameter of a
        method (``self``, ``cls``) is an object, never a tensor (until the def ends)."""
        self._not_values.add(id(node.name))
        saved = None
        if self._scopes and self._scopes[-1] == "class":
            params = list(node.params.posonly_params) + list(node.params.params)
            static = any(isinstance(d.decorator, cst.Name) and d.decorator.value == "staticmethod"
                         for d in node.decorators)
            if params and not static:
                name = params[0].name.value
                saved = (name, self.env.get(name))
                self.env[name] = L.OTHER_TAG
        self._scopes.append("def")
        self._instance_params.append(saved)

    def leave_definition(self) -> None:
        self._scopes.pop()
        saved = self._instance_params.pop()
        if saved is not None:
            name, old = saved
            if old is None:
                self.env.pop(name, None)
            else:
                self.env[name] = old

    def bind_local_import(self, small) -> None:
        """An import inside a body binds modules and their members, not tensors
        (names the file's import table resolves keep resolving through it)."""
        for name in import_bindings(small):
            if name not in self.f.imports.names:
                self.env[name] = L.OTHER_TAG
                self._local_imports.add(name)
