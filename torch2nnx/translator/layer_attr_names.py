"""Attributes of a torch layer subclass that its NNX base uses for something else.

pytorchcv's ``XConv2d(nn.Conv2d)`` keeps a fixed weight mask as ``self.mask``,
a PixelCNN ``MaskedConv2d`` registers a ``mask`` buffer: torch's Conv2d has no
``mask``, but ``nnx.Conv`` does (its own kernel mask, None unless given, laid
out as the NNX kernel). Written as it is, the subclass either fails to build
(NNX holds ``mask`` as a static attribute: a Variable cannot be assigned to
it) or, calling the base's ``__call__``, has the NNX layer multiply its kernel
by a mask in torch's axis order. So the subclass's own attribute takes a name
of its own (``mask_``) throughout the class and its translated subclasses; the
class says which torch name it stands for (``_torch_names``), and the weights
loader ports the state_dict entry under torch's name (``mask``) into it.
"""

from __future__ import annotations

import libcst as cst

from .context import FileContext

SUFFIX = "_"
TABLE = "_torch_names"


def _assigned(cls: cst.ClassDef) -> set[str]:
    """Attributes the class's own code sets: ``self.X = ...``, ``register_buffer("X", ...)``,
    ``register_parameter("X", ...)``."""
    found: set[str] = set()

    class _V(cst.CSTVisitor):
        def _target(self, t):
            if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
                found.add(t.attr.value)

        def visit_Assign(self, node):
            for t in node.targets:
                self._target(t.target)

        def visit_AnnAssign(self, node):
            self._target(node.target)

        def visit_Call(self, node):
            f = node.func
            if isinstance(f, cst.Attribute) and f.attr.value in ("register_buffer", "register_parameter") \
                    and node.args and isinstance(node.args[0].value, cst.SimpleString):
                found.add(node.args[0].value.evaluated_value)

    cls.visit(_V())
    return found


def _torch_side(rule) -> set[str]:
    """Names torch's layer itself has: its constructor parameters, weights and attributes."""
    from ..rules.base import parse_params

    names = {n for n, _, _ in parse_params(rule.params)}
    maps = rule.weights if isinstance(rule.weights, tuple) else ((rule.weights,) if rule.weights else ())
    names |= {e.torch_name for w in maps for e in w.entries}
    names |= {t for t, _ in rule.attrs}
    return names


def find(f: FileContext) -> dict[str, dict[str, str]]:
    """Class -> {torch attribute: the name it takes}: for each subclass of a layer
    row whose NNX base keeps an attribute of that name torch's layer does not
    have, and for the file's classes deriving from such a subclass."""
    from .layer_subclasses import _nnx_attrs

    out: dict[str, dict[str, str]] = {}
    for name, info in f.classes.items():
        if info.row is None or info.row_base is None:
            continue
        clash = (_assigned(info.node) & _nnx_attrs(info.row_base)) - _torch_side(info.row)
        if clash:
            out[name] = {a: a + SUFFIX for a in sorted(clash)}
    changed = True
    while changed:  # translated subclasses of such a class read the same attributes
        changed = False
        for name, info in f.classes.items():
            for b in info.bases:
                if b in out and not set(out[b]) <= set(out.get(name, {})):
                    out[name] = {**out[b], **out.get(name, {})}
                    changed = True
    return out


class _Rename(cst.CSTTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def leave_Attribute(self, original, updated):
        if isinstance(updated.value, cst.Name) and updated.value.value == "self" \
                and updated.attr.value in self.names:
            return updated.with_changes(attr=cst.Name(self.names[updated.attr.value]))
        return updated

    def visit_ClassDef(self, node):
        return False  # a nested class's self is its own


def rename(cls: cst.ClassDef, names: dict[str, str]) -> cst.ClassDef:
    """The translated class with its clashing attributes renamed, and the table
    the weights loader reads (``_torch_names = {"mask_": "mask"}``)."""
    body = [s.visit(_Rename(names)) if isinstance(s, cst.FunctionDef) else s for s in cls.body.body]
    table = ", ".join(f"{new!r}: {old!r}" for old, new in names.items())
    line = cst.parse_statement(f"{TABLE} = {{{table}}}\n").with_changes(leading_lines=[cst.EmptyLine(
        comment=cst.Comment("# attributes renamed off names the NNX base uses, with torch's (the weights loader)"))])
    at = 1 if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
        and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)) else 0
    body.insert(at, line)
    return cls.with_changes(body=cls.body.with_changes(body=body))
