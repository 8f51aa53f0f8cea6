"""Loop and comprehension variables bound from what they iterate.

``for i, (conv, bn) in enumerate(zip(self.convs, self.bns))`` and
``[op(x) for op in self.paths]`` reach layers through a variable: the
variable holds an item of the container (a layer, a translated class), so a
call of it is a call of that layer, which takes and returns channels-last
maps, not a function of unknown code that must be handed torch's order.

- ``iter_element`` is the tag of one item of an iterable: ``enumerate(x)``
  gives (index, item of ``x``), ``zip(a, b)`` (item of ``a``, item of ``b``),
  ``reversed``/``list``/``tuple``/``iter`` the items of their argument;
  ``bind_target`` unpacks tuple targets against such pairs.
- Comprehensions bind their targets before the element expression is visited
  (LibCST visits ``elt`` before ``for_in``), and the names go out of scope
  with the comprehension, as in Python 3.
- A list comprehension of tensors of one layout is a list of that layout, so
  ``torch.cat([x] + [pool(x) for pool in self.poolings], 1)`` concatenates
  the channel axis of channels-last maps; one of layers
  (``nn.ModuleList([nn.Conv2d(...) for _ in range(n)])``) is a list of that
  layer, as layers appended in a loop are.
"""

from __future__ import annotations

import libcst as cst

from . import layout as L
from . import module_api
from .context import ModuleRef
from .layout import Tag

COMPREHENSIONS = (cst.ListComp, cst.GeneratorExp, cst.SetComp, cst.DictComp)
# builtins whose items are the items of their (first) argument
_SAME_ITEMS = ("reversed", "list", "tuple", "iter", "sorted")


def _bound_names(target) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _bound_names(e.value)]
    if isinstance(target, cst.StarredElement):
        return _bound_names(target.value)
    return []


def iter_element(rw, it) -> Tag:
    """The tag of one item of iterating ``it`` (a rewritten expression)."""
    elem = rw.container_items(it)
    if elem is not None:  # self.values() of a container subclass
        return elem
    elem = module_api.self_elements(rw, it)
    if elem is not None:  # for mod in self: a Sequential subclass's layers
        return elem
    if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value not in rw.env:
        args = [a for a in it.args if a.keyword is None]
        name = it.func.value
        if name == "enumerate" and len(args) >= 1 and not args[0].star:
            return Tag(L.SEQ, module=(L.OTHER_TAG, iter_element(rw, args[0].value)))
        if name == "zip" and args and not any(a.star for a in args):
            return Tag(L.SEQ, module=tuple(iter_element(rw, a.value) for a in args))
        if name in _SAME_ITEMS and len(args) == 1 and not args[0].star:
            return iter_element(rw, args[0].value)
    return rw.element_tag(rw.tag(it))


class ComprehensionScopes:
    """Mixin for FunctionRewriter: comprehensions walked ``for_in`` first, their
    targets bound (``leave_CompFor_iter``) and dropped after."""

    def _walk(self, node, transform: bool):
        if transform and type(node) is cst.Call and _mapped_lambda(node, self.env):
            return self._walk_map(node)
        if type(node) not in COMPREHENSIONS or not transform:
            return super()._walk(node, transform)
        if self.on_visit(node) is False:
            return self.on_leave(node, node)
        saved = {}
        f = node.for_in
        while f is not None:
            for n in _bound_names(f.target):
                if n not in saved:
                    saved[n] = self.env.get(n, _MISSING)
            f = f.inner_for_in
        changes = {}
        # the `for` clauses first: they bind the names the element expression reads
        new_for = self._walk(node.for_in, transform)
        if new_for is not node.for_in:
            changes["for_in"] = new_for
        fields = ("key", "value") if isinstance(node, cst.DictComp) else ("elt",)
        for field in fields:
            old = getattr(node, field)
            new = self._walk(old, transform)
            if new is not old:
                changes[field] = new
        updated = node.with_changes(**changes) if changes else node
        result = self.on_leave(node, updated)
        elt = getattr(updated, "elt", None)
        if elt is not None and isinstance(result, (cst.ListComp, cst.GeneratorExp)):
            t = self.tag(elt)
            if t.kind == L.TENSOR and t.channels_last:  # a list of tensors of one layout
                self.set(result, t.with_(kind=L.SEQ, module=None))
            elif t.kind == L.MODULE and t.module is not None:
                # layers built in a comprehension: a list of them (one stands for all,
                # as for layers appended in a loop)
                self.set(result, Tag(L.MODULE, module=ModuleRef("list", elements=(t.module,))))
        for n, old in saved.items():
            if old is _MISSING:
                self.env.pop(n, None)
            else:
                self.env[n] = old
        return result

    def _walk_map(self, node):
        """``map(lambda conv: conv(x), self.convs)`` (vit-pytorch's CrossFormer) is a
        comprehension: the iterables first, then the lambda's body with its
        parameters bound to their items (a layer of the list), dropped after."""
        if self.on_visit(node) is False:
            return self.on_leave(node, node)
        func = self._walk(node.func, True)
        iters = [self._walk(a, True) for a in node.args[1:]]
        lam = node.args[0].value
        params = [p.name.value for p in lam.params.params]
        saved = {n: self.env.get(n, _MISSING) for n in params}
        for n, a in zip(params, iters):
            self.env[n] = iter_element(self, a.value)
        first = self._walk(node.args[0], True)
        for n, old in saved.items():
            if old is _MISSING:
                self.env.pop(n, None)
            else:
                self.env[n] = old
        # no leave_Call: the builtin needs no rewriting, and its iterables are read
        # by the lambda as they are (not handed to unknown code in torch's order)
        result = node.with_changes(func=func, args=[first, *iters])
        body = getattr(first.value, "body", None)
        t = self.tag(body) if body is not None else L.UNKNOWN_TAG
        if t.kind == L.TENSOR:  # items of one layout
            return self.set(result, t.with_(kind=L.SEQ, module=None))
        return self.set(result, L.UNKNOWN_TAG)

    def leave_CompFor_iter(self, node):
        it = getattr(self, "_last", None)
        if it is None:
            return
        if module_api.bind_pairs(self, it, node.target):  # [head(y) for name, head in m.named_children()]
            return
        self.bind_target(node.target, iter_element(self, it))


_MISSING = object()


def _mapped_lambda(node: cst.Call, env) -> bool:
    """``map(lambda a, b: ..., xs, ys)``: the builtin map, a lambda of plain
    positional parameters, one iterable per parameter."""
    if not (isinstance(node.func, cst.Name) and node.func.value == "map" and "map" not in env):
        return False
    args = node.args
    if len(args) < 2 or any(a.keyword is not None or a.star for a in args):
        return False
    lam = args[0].value
    if not isinstance(lam, cst.Lambda):
        return False
    p = lam.params
    return not (p.posonly_params or p.kwonly_params or not isinstance(p.star_arg, cst.MaybeSentinel)
                or p.star_kwarg is not None or any(q.default is not None for q in p.params)) \
        and len(p.params) == len(args) - 1
