"""Cheaper dispatch for LibCST visitors and transformers.

LibCST looks up ``visit_<Type>``, ``leave_<Type>`` and the attribute hooks
``visit_<Type>_<field>`` by name for every node it visits, and its base
classes define all of them, so every lookup succeeds and calls a no-op; a
transformer also rebuilds every node, down to each comma and space. The
mixins below dispatch through a table of the hooks a subclass really
defines, and do not descend into nodes whose children are only punctuation
and whitespace (a name, a number, an operator): nothing in them is ever
rewritten.

``walk(node)`` goes further, in place of ``node.visit(visitor)``: the same
hooks in the same order (LibCST's own, read off its node classes), but a
node is rebuilt only when one of its children changed, and whitespace and
punctuation the visitor has no hook for are not visited at all.
"""

from __future__ import annotations

import inspect
import re

import libcst as cst

# leaves that carry a value (a name, a number, a keyword statement)
VALUE_LEAVES = frozenset({
    cst.Name, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis,
    cst.Pass, cst.Break, cst.Continue, cst.ImportStar, cst.FormattedStringText,
})

# nodes that are only whitespace or punctuation: nothing to translate in them
TRIVIA = frozenset(
    {
        cst.Comment, cst.Newline, cst.SimpleWhitespace, cst.ParenthesizedWhitespace,
        cst.TrailingWhitespace, cst.EmptyLine, cst.Comma, cst.Dot, cst.Colon, cst.Semicolon,
        cst.AssignEqual, cst.Asynchronous, cst.ParamStar, cst.ParamSlash,
        cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket,
        cst.LeftCurlyBrace, cst.RightCurlyBrace,
    }
    | {
        t for t in vars(cst).values()
        if isinstance(t, type) and issubclass(t, (cst.BaseBinaryOp, cst.BaseBooleanOp, cst.BaseCompOp,
                                                  cst.BaseAugOp, cst.BaseUnaryOp))
    }
)

# nodes whose children are only parentheses, separators and whitespace
LEAFLIKE = VALUE_LEAVES | TRIVIA

_HELPER = re.compile(r"(visit_required|visit_optional|visit_sentinel|visit_sequence|visit_body_sequence)"
                     r"\(\s*self,\s*\"(\w+)\"")
_ORDER: dict[type, tuple] = {}


def child_order(t: type) -> tuple:
    """(field, how) in the order LibCST visits a node's children, with how
    it treats a removal there (required, optional, sentinel, sequence, body)."""
    order = _ORDER.get(t)
    if order is None:
        seen = {}
        for helper, name in _HELPER.findall(inspect.getsource(t._visit_and_replace_children)):
            seen.setdefault(name, helper[len("visit_"):])  # ImportFrom.names: a node or a sequence
        order = _ORDER[t] = tuple(seen.items())
    return order


def _hooks(cls, base, prefix: str) -> tuple[dict, dict]:
    """The ``prefix<Type>`` and ``prefix<Type>_<field>`` methods ``cls``
    defines itself (not LibCST's no-op defaults)."""
    nodes, attrs = {}, {}
    for name in dir(cls):
        if not name.startswith(prefix):
            continue
        fn = getattr(cls, name)
        if not callable(fn) or fn is getattr(base, name, None):
            continue
        rest = name[len(prefix):]
        typ, _, field = rest.partition("_")
        node_type = getattr(cst, typ, None)
        if not isinstance(node_type, type):
            continue
        if field:
            attrs[(node_type, field)] = fn
        else:
            nodes[node_type] = fn
    return nodes, attrs


class _Dispatch:
    _base: type = object

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls._visit_hooks, cls._visit_attr_hooks = _hooks(cls, cls._base, "visit_")
        cls._leave_hooks, cls._leave_attr_hooks = _hooks(cls, cls._base, "leave_")
        # whitespace and punctuation the class has no hook for: not visited at all
        cls._skip_types = frozenset(TRIVIA - set(cls._visit_hooks) - set(cls._leave_hooks))

    def on_visit(self, node) -> bool:
        t = type(node)
        fn = self._visit_hooks.get(t)
        if fn is not None and fn(self, node) is False:
            return False
        return t not in LEAFLIKE

    def on_visit_attribute(self, node, attribute: str) -> None:
        if self._visit_attr_hooks:
            fn = self._visit_attr_hooks.get((type(node), attribute))
            if fn is not None:
                fn(self, node)

    def on_leave_attribute(self, original_node, attribute: str) -> None:
        if self._leave_attr_hooks:
            fn = self._leave_attr_hooks.get((type(original_node), attribute))
            if fn is not None:
                fn(self, original_node)

    def walk(self, node):
        """``node.visit(self)``, rebuilding only what changed."""
        transform = not isinstance(self, cst.CSTVisitor)
        return self._walk(node, transform)

    def _walk(self, node, transform: bool):
        if self.on_visit(node):
            changes = None
            vattr = self._visit_attr_hooks
            lattr = self._leave_attr_hooks
            for field, how in child_order(type(node)):
                old = getattr(node, field)
                if vattr:
                    self.on_visit_attribute(node, field)
                new = self._field(old, how, transform)
                if lattr:
                    self.on_leave_attribute(node, field)
                if new is not old:
                    if changes is None:
                        changes = {}
                    changes[field] = new
            updated = node if changes is None else node.with_changes(**changes)
        else:
            updated = node
        if transform:
            return self.on_leave(node, updated)
        self.on_leave(node)
        return node

    def _field(self, old, how: str, transform: bool):
        # types compared directly: isinstance against LibCST's abstract base
        # classes is among the costliest calls of a walk
        t = type(old)
        skip = self._skip_types
        if t is tuple or t is list:
            out = []
            changed = False
            for child in old:
                if type(child) in skip:
                    out.append(child)
                    continue
                new = self._walk(child, transform)
                if new is child:
                    out.append(child)
                    continue
                changed = True
                if type(new) is cst.RemovalSentinel:
                    continue
                items = list(new) if type(new) is cst.FlattenSentinel else [new]
                for item in items:
                    # as LibCST: a statement emptied by removals goes, not a pass-less block
                    if how == "body_sequence" and not child._is_removable() and item._is_removable():
                        continue
                    out.append(item)
            return tuple(out) if changed else old
        if old is None or t is str or t is cst.MaybeSentinel or t in skip:
            return old
        new = self._walk(old, transform)
        if new is old:
            return old
        if type(new) is cst.RemovalSentinel:
            if how == "optional":
                return None
            if how == "sentinel":
                return cst.MaybeSentinel.DEFAULT
            raise TypeError(f"a {type(old).__name__} here cannot be removed")
        if type(new) is cst.FlattenSentinel:
            raise TypeError(f"a {type(old).__name__} here cannot be replaced with a sequence")
        return new


class FastTransformer(_Dispatch, cst.CSTTransformer):
    _base = cst.CSTTransformer

    def on_leave(self, original_node, updated_node):
        fn = self._leave_hooks.get(type(original_node))
        return updated_node if fn is None else fn(self, original_node, updated_node)


class FastVisitor(_Dispatch, cst.CSTVisitor):
    _base = cst.CSTVisitor

    def on_leave(self, original_node) -> None:
        fn = self._leave_hooks.get(type(original_node))
        if fn is not None:
            fn(self, original_node)
