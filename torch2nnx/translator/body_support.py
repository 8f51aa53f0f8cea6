"""Module-level helpers the rewrite of a function body shares among its rooms
(function_rewriter.py and the mixins it is made of)."""

from __future__ import annotations

import ast

from functools import lru_cache

import libcst as cst

from ..rules.constants import DTYPE_VALUES
from .context import HELPER_ALIAS, ClassInfo, ModuleRef
from .imports import dotted


_code = cst.Module([]).code_for_node


def code(node: cst.CSTNode) -> str:
    return _code(node)


def _dtype_identity(cmp: cst.Comparison) -> cst.Comparison:
    """``d is torch.float32``: torch's dtypes are singletons, JAX's are not (an array's
    dtype is an np.dtype, equal to jnp.float32 but not it): compared with ==."""
    items = [cmp.left] + [c.comparator for c in cmp.comparisons]
    comps = list(cmp.comparisons)
    for i, c in enumerate(comps):
        if isinstance(c.operator, (cst.Is, cst.IsNot)) and (code(items[i]) in DTYPE_VALUES
                                                           or code(items[i + 1]) in DTYPE_VALUES):
            op = cst.Equal() if isinstance(c.operator, cst.Is) else cst.NotEqual()
            comps[i] = c.with_changes(operator=op.with_changes(whitespace_before=cst.SimpleWhitespace(" "),
                                                               whitespace_after=cst.SimpleWhitespace(" ")))
    return cmp.with_changes(comparisons=comps)


def _is_inplace_set(node) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "inplace_set" \
        and len(node.args) == 2


def _picks_a_channel(elements) -> bool:
    """``x[:, i]``: a whole batch, then one index on axis 1 (not a slice, None or ...)."""
    if len(elements) < 2 or not all(isinstance(e.slice, (cst.Index, cst.Slice)) for e in elements[:2]):
        return False
    first, second = elements[0].slice, elements[1].slice
    whole = isinstance(first, cst.Slice) and first.lower is None and first.upper is None and first.step is None
    return whole and isinstance(second, cst.Index) and not (
        isinstance(second.value, cst.Name) and second.value.value == "None") \
        and not isinstance(second.value, cst.Ellipsis)


def _is_place_write(node) -> bool:
    """``inplace_set(place, v)`` / ``inplace_set_view(place, v, axes)``."""
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) \
        and node.func.value.removeprefix(HELPER_ALIAS) in ("inplace_set", "inplace_set_view") and len(node.args) >= 2


@lru_cache(maxsize=8192)
def expr(src: str) -> cst.BaseExpression:
    """``src`` parsed. Cached: rows build the same sources again and again (every
    round rewrites a changed statement anew), and CST nodes are immutable."""
    try:
        return cst.parse_expression(src)
    except cst.ParserSyntaxError:
        # a receiver written across lines inside the source's parentheses
        # (`(a.decode(x)\n    .values.cpu())`) is valid only inside parentheses
        return cst.parse_expression(f"({src})")


# Python builtins whose result is not a tensor and that accept any layout.
# torch parameters with no effect on what an NNX layer computes
INERT_PARAMS = {"inplace"}

NON_TENSOR_BUILTINS = {
    "len", "int", "float", "bool", "str", "isinstance", "range", "enumerate", "zip",
    "print", "tuple", "list", "dict", "set", "min", "max", "sum", "abs", "round",
    "getattr", "hasattr", "setattr", "type", "iter", "next", "sorted", "reversed",
    "any", "all", "repr", "format", "super", "callable", "id", "hash",
}


# standard-library modules whose functions never return a tensor
NON_TENSOR_MODULES = {
    "re", "os", "sys", "math", "json", "logging", "warnings", "pathlib", "string", "time", "datetime",
    "inspect", "typing", "dataclasses", "enum", "argparse", "fnmatch", "glob", "hashlib", "io", "shutil",
    "subprocess", "tempfile", "textwrap", "threading", "traceback", "uuid", "platform", "importlib",
    "collections", "packaging",
}


def _transposed_view(node):
    """``jnp.transpose(place, (1, 0))`` (a place read in another order, such as a
    layer's kernel in torch's): (place, axes), else None."""
    if isinstance(node, cst.Call) and code(node.func) == "jnp.transpose" and len(node.args) == 2 \
            and dotted(node.args[0].value):
        try:
            axes = ast.literal_eval(code(node.args[1].value))
        except (ValueError, SyntaxError):
            return None
        if isinstance(axes, tuple) and all(isinstance(a, int) for a in axes):
            return node.args[0].value, axes
    return None


def _narrowed_name(test):
    """The name an isinstance test narrows (in either operand of an ``and``, or
    both operands of an ``or``)."""
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance" \
            and test.args and isinstance(test.args[0].value, cst.Name):
        return test.args[0].value.value
    if isinstance(test, cst.BooleanOperation):
        left, right = _narrowed_name(test.left), _narrowed_name(test.right)
        if isinstance(test.operator, cst.And):
            return left if right is None or left == right else (right if left is None else None)
        return left if left == right else None
    return None


def _ordered_dict_items(nodes):
    """Sequential(OrderedDict([(name, layer), ...])): the layer nodes."""
    if len(nodes) != 1 or not isinstance(nodes[0], cst.Call) or not nodes[0].args:
        return None
    lst = nodes[0].args[0].value
    if not isinstance(lst, (cst.List, cst.Tuple)):
        return None
    out = []
    for e in lst.elements:
        if not (isinstance(e.value, cst.Tuple) and len(e.value.elements) == 2):
            return None
        out.append(e.value.elements[1].value)
    return out


def _defines(cls: ClassInfo, name: str) -> bool:
    """The class body defines ``name`` (a method or class attribute)."""
    for stmt in cls.node.body.body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) and stmt.name.value == name:
            return True
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else (
                    [small.target] if isinstance(small, cst.AnnAssign) else [])
                if any(isinstance(t, cst.Name) and t.value == name for t in targets):
                    return True
    return False


def _is_drop(node) -> bool:
    from ..rules.torch_only import DROP

    return isinstance(node, cst.Name) and node.value == DROP


def _source_rank(args):
    """The rank of a new tensor from its sizes (torch.ones(c, 1, 1)), if literal in number."""
    star = getattr(args, "star", None) or []
    if star and not any(s.startswith("*") for s in star):
        if len(star) == 1:
            try:
                v = ast.literal_eval(star[0])
            except (ValueError, SyntaxError):
                return None  # torch.zeros(size): a tuple of unknown length, or one int
            return len(v) if isinstance(v, (tuple, list)) else 1
        return len(star)
    return None


def _per_channel_sizes(args) -> bool:
    """New tensor sizes ``(C, 1, 1)`` (rank 3 or more, all but the first a literal
    1, the first no literal 1): a per-channel tensor for an image batch."""
    star = getattr(args, "star", None) or []
    if len(star) == 1:
        try:
            v = ast.literal_eval(star[0])
        except (ValueError, SyntaxError):
            return False
        star = [repr(e) for e in v] if isinstance(v, (tuple, list)) else star
    if len(star) < 3 or any(s.startswith("*") for s in star) or star[0].strip() == "1":
        return False
    return all(s.strip() == "1" for s in star[1:])


def _built(m: ModuleRef) -> ModuleRef:
    """What calling the factory ``m`` builds."""
    if m.rule is not None:
        return ModuleRef("layer", rule=m.rule, layout=m.layout)
    if len(m.elements) == 1:
        return m.elements[0]
    return ModuleRef("union", elements=m.elements) if m.elements else ModuleRef("unknown", function=True)


def _writes_receiver(rule) -> bool:
    """An in-place tensor method (``x.copy_(v)``, ``x.add_(y)``): its receiver is written."""
    return rule.name.startswith("Tensor.") and rule.name.endswith("_") and not rule.name.endswith("__")


def _is_none(node) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _mixed_ranks(m) -> bool:
    """A union of spatial layers of different ranks (and maybe elementwise ones)."""
    if m is None or m.kind != "union":
        return False
    layers = [e for e in m.elements if e.kind == "layer" and e.rule is not None]
    kinds = {(e.layout or e.rule.layout).kind for e in layers}
    return len({(e.layout or e.rule.layout).rank for e in layers} - {None}) > 1 \
        and kinds <= {"spatial", "elementwise"}


def _passes_rngs(node) -> bool:
    """Whether ``node`` hands ``rngs=`` to a call (a layer built inside it)."""
    found = []

    class Finder(cst.CSTVisitor):
        def visit_Arg(self, a):
            if a.keyword is not None and a.keyword.value == "rngs":
                found.append(a)

        def visit_Lambda(self, n):
            return False

    node.visit(Finder())
    return bool(found)
