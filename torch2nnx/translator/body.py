"""Rewrite of one function body: layer constructors, ops, tensor methods and
the channels-last layout analysis that drives them.

The layout analysis runs while the body is rewritten, in statement order: each
expression leaves with a :class:`Tag`, assignments bind tags to names, control
flow joins them. Ops read their row's declared layout behaviour and get their
dims remapped, or a transpose inserted where the original depends on
channel-first order.
"""

from __future__ import annotations

import ast
import re
from typing import Optional, Sequence

import libcst as cst

from ..rules import registry
from ..rules.base import PLAIN, Canonical, Rule, Unsupported, bind, parse_params
from ..rules.constants import DTYPE_VALUES
from ..rules.place_writes import is_layer_attr_read, write_through
from ..rules.module_methods import BY_NAME as MODULE_METHOD_NAMES, REQUIRES_GRAD_ATTR
from ..rules.seq_ops import TIED_LINEAR_WEIGHTS, TIED_WEIGHT_NAMES
from . import layout as L
from .kernel_layout import kept_torch_params, renamed_torch_attrs, renamed_torch_params, weight_tag
from . import (branch_layouts, channel_unsqueeze, factory_args, held_permutations, image_batches, module_api,
               named_members, reshape_choice, returned_origins, shape_reads, shape_values, slot_unions,
               torch_order_layers, union_dispatch)
from .analyze import is_super_reset
from .call_args import later_args
from . import row_forward, sequence_values
from .context import HELPER_ALIAS, UNKNOWN_MODULE, BuildCtx, ClassInfo, FileContext, ModuleRef, Summary, module_dict_item
from .emit import definitions
from .decorators import applied_identity, removable_decorator, unused_wrapper_call
from .fastvisit import FastTransformer
from .imports import dotted
from .layer_choice import either_layout, factory_choice, ranked_type, spatial_union, stance
from .layer_globals import constructed
from .layout import Tag
from .list_growth import list_extended
from .view_ranks import target_dims, target_rank
from .starred_layers import splat_binds_named, starred_call_source, starred_layer_source
from .factory_splats import factory_splat_call
from .list_joins import joined_lists
from .modeflag import READ as MODE_FLAG_READ
from .modeflag import annassign_mode_flag, assign_mode_flag, augassign_mode_flag, is_mode_flag
from .operands import guarded_result, indexed_rank, operand, tidy
from . import branch_layouts, flag_classes, flag_layouts, flag_splits
from .branch_envs import BranchEnvsMixin
from .loop_bindings import ComprehensionScopes, iter_element
from .places import PlacesMixin
from .closures import takes_own_rngs
from .mixed_sequences import torch_order_elements
from .optional_values import guarded as guarded_conversion
from .rngs_methods import bind_rngs, flatten_partial, rngs_method_call, rngs_method_value

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


def expr(src: str) -> cst.BaseExpression:
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


class BodyRewriter(ComprehensionScopes, BranchEnvsMixin, PlacesMixin, FastTransformer):
    """Rewrites one function (or a class body's statements)."""

    def __init__(self, fctx: FileContext, cls: Optional[ClassInfo], func_name: str, params: Sequence[str],
                 param_tags: Optional[dict[str, Tag]] = None):
        super().__init__()
        self.f = fctx
        self.cls = cls
        self.func_name = func_name
        self.env: dict[str, Tag] = {}
        self.tags: dict[int, tuple[cst.CSTNode, Tag]] = {}
        self.summary = Summary(params=list(params))
        self.decided: dict[str, Tag] = {}
        self.unpacked_free_shapes: set[str] = set()  # shape_reads.py
        for p in params:
            self.env[p] = (param_tags or {}).get(p, Tag(L.FREE, param=p))
        # parameters that may hold an nnx.Variable (an init helper's `tensor`) until
        # rebound: torch's in-place methods on them must write into it (inplace_set)
        self.maybe_variables = set(params) - {"self"} if not (cls is not None and func_name == "forward") \
            else set()
        self.todos: list[list[str]] = []
        self._stmts: list = []  # enclosing simple statements (original nodes), for positions
        self._call_funcs: set[int] = set()  # original nodes that are the callee of a call
        self.bound_rngs: dict[int, tuple] = {}  # functools.partial(f, rngs=...) made here -> (f, rngs)
        self._not_values: set[int] = set()  # names that are attribute names or keywords
        self._type_nodes: set[int] = set()  # original nodes in a type position (isinstance)
        self._subclass_nodes: set[int] = set()  # the classes issubclass checks against
        self.init_places()
        self._operand_parens: set[str] = set()  # parentheses operand() added to this call's sources
        self._annotation = 0
        self.transposes = 0
        self.optional_names: set[str] = set()  # locals that may hold None: conversions keep it (optional_values.py)
        self.build_ctx = BuildCtx(fctx)
        self.build_ctx.cls = cls
        self.build_ctx.in_init = func_name == "__init__"
        self.returns: list[Tag] = []
        self.in_init = func_name == "__init__"
        self.statement_calls: set[int] = set()  # calls that are a whole statement (their value unused)
        self.assign_targets: set[int] = set()  # original nodes assigned to (`p.requires_grad = False`)
        self.root = None  # what walk() was first handed: the function body
        self._filled = None  # module_api.filled_names, computed once
        self.layer_calls: set[int] = set()  # calls of factories known by their use (factory_uses)

    def walk(self, node):
        if self.root is None:
            self.root = node
        return super().walk(node)

    def visit_Expr(self, node):
        self.statement_calls.add(id(node.value))

    def visit_AssignTarget(self, node):
        self.assign_targets.add(id(node.target))
        if isinstance(node.target, cst.Name):
            self.maybe_variables.discard(node.target.value)

    # ------------------------------------------------------------------ tags
    def tag(self, node) -> Tag:
        entry = self.tags.get(id(node))
        return self.resolve(entry[1] if entry is not None else L.UNKNOWN_TAG)

    def set(self, node, tag: Tag):
        # the node is kept alive with its tag: a freed temporary's id could
        # otherwise be reused by a later node, which would inherit its tag
        self.tags[id(node)] = (node, tag)
        return node

    def resolve(self, tag: Tag) -> Tag:
        if tag.kind == L.FREE and tag.param in self.decided:
            return self.decided[tag.param]
        if tag.kind == L.SEQ and tag.param in self.decided:  # a list of an undecided parameter
            return self.decided[tag.param].with_(kind=L.SEQ, param=None, module=None)
        return tag

    def decide(self, tag: Tag, as_: Tag) -> Tag:
        if as_.kind == L.FREE:
            return tag  # nothing learnt: two undecided values met
        if tag.kind == L.FREE and tag.param:
            self.decided.setdefault(tag.param, as_)
            return self.decided[tag.param]
        return tag

    # ------------------------------------------------------------- todo marks
    def where(self, node):
        """A node with a source position: ``node`` or the statement around it."""
        if self.f.position(node) != (0, 0) or not self._stmts:
            return node
        return self._stmts[-1]

    def todo(self, node, code_: str, message: str):
        self.f.diag(self.where(node), code_, message)
        if self.todos:
            self.todos[-1].append(f"# TODO(torch2nnx): {code_} {message}")
        self.f.todo_count += 1

    def rngs_here(self, node, what: str):
        """The Rngs to hand a call that draws random numbers, or None where there
        are none (a plain class's method, a module-level statement): the call is
        then marked T2N005 and left as it is."""
        try:
            return self.build_ctx.fill_rngs()
        except Unsupported as e:
            self.todo(node, e.code, f"{what}: {e.message}")
            return None

    def info(self, node, message: str):
        self.f.diag(self.where(node), "T2N100", message)

    def visit_SimpleStatementLine(self, node):
        self.todos.append([])
        self._stmts.append(node)

    def leave_SimpleStatementLine(self, original, updated):
        if len(updated.body) == 1 and isinstance(updated.body[0], cst.Expr) and _is_drop(updated.body[0].value) \
                or unused_wrapper_call(self.f, original, updated):
            self._attach(updated)
            return cst.RemovalSentinel.REMOVE
        updated = self.inplace_statement(original, updated)
        if len(updated.body) == 1 and isinstance(updated.body[0], cst.Assign) \
                and len(updated.body[0].targets) == 1 \
                and isinstance(updated.body[0].targets[0].target, cst.Name) \
                and isinstance(updated.body[0].value, cst.Name) \
                and updated.body[0].targets[0].target.value == updated.body[0].value.value \
                and not (isinstance(original.body[0], cst.Assign) and isinstance(original.body[0].value, cst.Name)):
            # a permute that only relabels axes of channels-last data
            updated = updated.with_changes(trailing_whitespace=cst.TrailingWhitespace(
                whitespace=cst.SimpleWhitespace("  "),
                comment=cst.Comment("# torch2nnx: layout-only, the data stays channels-last")))
        return self._attach(updated)

    def leave_Decorator(self, original, updated):
        if removable_decorator(self.f, original, updated):
            return cst.RemovalSentinel.REMOVE
        return updated

    def leave_With(self, original, updated):
        items = [i for i in updated.items if not _is_drop(i.item)]
        if len(items) == len(updated.items):
            return self._attach(updated)
        self._attach(updated)
        if items:
            items[-1] = items[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated.with_changes(items=items)
        # `with torch.no_grad():` - the body stays, one level up
        return cst.FlattenSentinel(list(updated.body.body))

    def leave_IndentedBlock(self, original, updated):
        if not updated.body:
            return updated.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
        return updated

    def inplace_statement(self, original, updated):
        """``x.add_(y)`` as a statement: the row gave ``inplace_set(x, x + y)``, which
        sets a Variable's value and returns it, or returns the new array; JAX arrays are
        immutable, so the receiver is rebound: ``x = inplace_set(x, x + y)``. A slice
        (``x[:, 0].zero_()``) updates the whole: ``x = inplace_set(x, x.at[:, 0].set(...))``."""
        if len(original.body) != 1 or not isinstance(original.body[0], cst.Expr):
            return updated
        call = original.body[0].value
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)):
            return updated
        name = call.func.attr.value
        new_value = updated.body[0].value
        if self.f.imports.qualify(call.func) is not None:
            # nn.init.normal_(w[n:]): a function; its row wrote into the place (a Variable
            # keeps its identity), a local array's name takes the new value
            if _is_place_write(new_value) and isinstance(new_value.args[0].value, cst.Name):
                return updated.with_changes(body=[cst.Assign(
                    targets=[cst.AssignTarget(target=new_value.args[0].value)], value=new_value)])
            return updated
        if not name.endswith("_") or name.startswith("_") or registry.method(name) is None:
            return updated
        if new_value.deep_equals(call):
            return updated  # not rewritten (a TODO)
        root = new_value
        # a chain (x.uniform_(a, b).mul_(c)): the innermost receiver is the one written
        while _is_inplace_set(root) and _is_inplace_set(root.args[0].value):
            root = root.args[0].value
        if not _is_inplace_set(root):
            if not dotted(call.func.value):
                return updated
            target = call.func.value  # a row that gives the new value only
        else:
            target = root.args[0].value
            if is_layer_attr_read(target):
                return updated  # the run-time attribute is the layer's Variable: inplace_set writes it
            if not dotted(target) and new_value is root:
                # a slice (x[:, 0].zero_()) or a kernel read in torch's order: the whole
                # place's new value, written back in its own order
                written = write_through(target, code(root.args[1].value), self.build_ctx.helper)
                if written is None:
                    self.todo(call, "T2N005", f"in-place {name} of {code(target)}: no parameter or array to write to")
                    return updated
                target, new_value = written[0], expr(written[1])
            elif not dotted(target):
                return updated
        if isinstance(target, cst.Name) and new_value is root and _is_inplace_set(root) \
                and self._plain_array(target.value):
            # a local array (or forward's input) is never a Variable: the new value is enough
            new_value = root.args[1].value.with_changes(lpar=[], rpar=[])
        assign = cst.Assign(targets=[cst.AssignTarget(target=target)], value=new_value)
        if isinstance(target, cst.Name):
            self.env[target.value] = self.tag(updated.body[0].value)
        return updated.with_changes(body=[assign])

    def _plain_array(self, name: str) -> bool:
        t = self.env.get(name)
        if t is None or name in self.maybe_variables:
            return False
        t = self.resolve(t)
        return t.kind == L.TENSOR or (t.kind == L.FREE and self.cls is not None and self.func_name == "forward")

    def _attach(self, updated):
        if self._stmts and isinstance(updated, cst.SimpleStatementLine):
            self._stmts.pop()
        notes = self.todos.pop() if self.todos else []
        if not notes:
            return updated
        lines = list(updated.leading_lines) + [
            cst.EmptyLine(comment=cst.Comment(n)) for n in dict.fromkeys(notes)
        ]
        return updated.with_changes(leading_lines=lines)

    def visit_If(self, node):
        self.todos.append([])
        self._push_env()
        flag_splits.restore(self, node)
        flag_classes.enter_if(self, node)
        self.narrow(node.test)

    def narrow(self, test):
        """``if isinstance(m, nn.Conv2d):`` - inside, ``m`` is that layer
        (``m.weight`` is ``m.kernel``). ``isinstance(m, A) or isinstance(m, B)``
        narrows to either."""
        if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
            # `"head" in name and isinstance(m, nn.Conv2d)`: both hold
            self.narrow(test.left)
            self.narrow(test.right)
            return
        if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
            before = dict(self.env)
            self.narrow(test.left)
            name = _narrowed_name(test.left)
            left = self.env.get(name) if name is not None else None
            self.env = dict(before)
            self.narrow(test.right)
            right = self.env.get(name) if name is not None else None
            if left is not None and right is not None and name == _narrowed_name(test.right) \
                    and left.kind == right.kind == L.MODULE:
                elems = []
                for t in (left, right):
                    elems += list(t.module.elements) if t.module.kind == "union" else [t.module]
                self.env[name] = Tag(L.MODULE, module=ModuleRef("union", elements=tuple(elems)))
            else:
                self.env = before
            return
        if not (isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance"
                and len(test.args) == 2 and isinstance(test.args[0].value, cst.Name)):
            return
        kinds = test.args[1].value
        kinds = [e.value for e in kinds.elements] if isinstance(kinds, cst.Tuple) else [kinds]
        refs = []
        for k in kinds:
            q = self.f.imports.qualify(k)
            rule = registry.lookup(q) if q else None
            if rule is not None and rule.layer:
                refs.append(ModuleRef("layer", rule=rule))
            elif isinstance(k, cst.Name) and k.value in self.f.classes:
                refs.append(ModuleRef("class", cls=k.value))
            else:
                return
        ref = refs[0] if len(refs) == 1 else ModuleRef("union", elements=tuple(refs))
        self.env[test.args[0].value.value] = Tag(L.MODULE, module=ref)

    def visit_If_orelse(self, node):
        # called for a missing else too: then the body's environment joins the one before the if
        flag_classes.enter_else(self)
        if node.orelse is not None:
            self._branch_env()

    def leave_If(self, original, updated):
        flag_classes.leave_if(self)
        moves = flag_splits.split_join(self, original, self._pop_env())
        slot_unions.joined(self)
        return self._attach(branch_layouts.apply(self, original, updated, moves))

    def visit_For(self, node):
        self.todos.append([])
        self._push_env()
        self.enter_loop()
        self.add_store(node.target)

    def visit_While(self, node):
        self.todos.append([])
        self._push_env()
        self.enter_loop()

    def leave_While(self, original, updated):
        self._pop_env(loop=True)
        return self._attach(updated)

    def visit_With(self, node):
        self.todos.append([])

    def visit_Try(self, node):
        self.todos.append([])

    def visit_ExceptHandler(self, node):
        self.resume_block()

    def leave_Try(self, original, updated):
        self.resume_block()
        return self._attach(updated)

    def leave_Raise(self, original, updated):
        self.end_branch()
        return updated

    def visit_Continue(self, node):
        self.leave_loop_early()

    def visit_Break(self, node):
        self.leave_loop_early()

    # nested function definitions keep their own names
    def visit_FunctionDef(self, node):
        self.todos.append([])
        self.enter_definition(node)
        self.enter_nested_def()

    def leave_FunctionDef(self, original, updated):
        self.leave_definition()
        self.leave_nested_def()
        if self.build_ctx.rngs_available and _passes_rngs(updated.body):
            # a closure building layers, maybe handed out as a factory (closures.py)
            updated = updated.with_changes(params=takes_own_rngs(updated.params, self.build_ctx.rngs))
        return self._attach(updated)

    # ------------------------------------------------------------- transposes
    def ask_image(self, t: Tag, want: Tag) -> None:
        """A value in torch order only provisionally (a parameter undecided when first
        met, or as some callers handed it: its ``origin``) is an image batch
        (image_batches.py): the function takes that parameter channels-last from the
        next round on, whatever those callers hand (they transpose; callers that
        cannot see the function hand it channels-last as they are)."""
        if t.kind == L.TENSOR and t.origin is not None and not t.channels_last and self.func_name != "__init__":
            self.f.return_layouts.setdefault(self.return_key + ("image", t.origin), want)

    def to_layout(self, node: cst.BaseExpression, tag: Tag, want: Tag, why: str = "") -> cst.BaseExpression:
        """Wrap ``node`` in a transpose taking ``tag`` to ``want`` (if needed)."""
        rank = len(tag.perm) if tag.perm is not None else (len(want.perm) if want.perm is not None else None)
        if rank is None:
            return node
        if tag.kind == L.TENSOR and tag.perm is None and tag.rank is None and isinstance(node, cst.Name) \
                and self.env.get(node.value) == tag:
            # a torch-order name of unknown rank (`x.view(B, C, *size)`) taken as a
            # rank-`rank` layout's input has that rank from here on
            self.env[node.value] = tag.with_(rank=rank)
        if tag.perm is not None and want.perm is not None and len(tag.perm) != len(want.perm):
            # no transpose takes a rank to another: the analysis read one of them wrong
            self.todo(node, "T2N005", f"a rank-{len(tag.perm)} layout where one of rank {len(want.perm)} "
                                      f"is wanted{' (' + why + ')' if why else ''}: left as it is")
            return node
        axes = L.transpose_axes(tag.perm, want.perm, rank)
        if axes == tuple(range(rank)):
            return node
        self.transposes += 1
        if why:
            self.info(node, why)
        if tag.or_flat:
            # maybe flattened already (reshape_choice): transposed only at its rank, and
            # still maybe flat after (a Linear or an Identity keeps either rank)
            helper = "torch_order" if L.is_identity(want.perm) else "map_order"
            new = expr(f"{self.build_ctx.helper(helper)}({code(node)}, {axes})")
        else:
            new = expr(f"jnp.transpose({code(node)}, {axes})")
        if isinstance(node, cst.Name) and node.value in self.optional_names:
            new = guarded_conversion(node.value, code(new))  # None stays None (optional_values.py)
        self.set(new, (want if want.perm is not None else L.plain(rank)).with_(or_flat=tag.or_flat))
        return new

    def canonical(self, node, why: str = "") -> cst.BaseExpression:
        """The value in torch's logical order (plain)."""
        t = self.tag(node)
        if t.kind == L.FREE:
            self.decide(t, L.plain())
            return node
        if self.is_runtime_weight(t):
            # a layer's weight in the NNX layer's order, known only at run time
            return self.set(expr(f"{self.build_ctx.helper('torch_weight_value')}({code(node)})"), L.plain())
        if t.kind == L.SEQ and t.channels_last:
            axes = L.transpose_axes(t.perm, None, len(t.perm))
            self.transposes += 1
            if why:
                self.info(node, why)
            if isinstance(node, (cst.List, cst.Tuple)):
                new = node.with_changes(elements=[e.with_changes(value=expr(
                    f"jnp.transpose({code(e.value)}, {axes})")) for e in node.elements])
            else:
                new = expr(f"[jnp.transpose(t, {axes}) for t in {code(node)}]")
            return self.set(new, L.plain().with_(kind=L.SEQ))
        if t.channels_last:
            return self.to_layout(node, t, L.plain(len(t.perm)), why)
        return node

    # ---------------------------------------------------------- expressions
    def visit_Attribute(self, node):
        self._not_values.add(id(node.attr))  # `x.Tensor`: an attribute name, not a use of Tensor

    def visit_Arg(self, node):
        if node.keyword is not None:
            self._not_values.add(id(node.keyword))

    def leave_Name(self, original, updated):
        if id(original) in self._not_values:
            return updated
        if updated.value in self.env:
            if flag_splits.is_split(self.env[updated.value]) and not self.is_store(original):
                return flag_splits.read(self, original, updated, self.env[updated.value])
            return self.set(updated, self.env[updated.value])
        if self.is_store(original):
            return updated  # a place written to, not a use of what the name held
        if updated.value in ("True", "False", "None") or updated.value in self.f.plain_globals:
            return self.set(updated, L.OTHER_TAG)
        q = self.f.imports.qualify(updated)
        if q is not None and self.f.imports.is_torch(q) and id(original) not in self._call_funcs:
            return self.torch_value(original, updated, q)
        if (updated.value in self.f.builders or updated.value in self.f.random_functions
                or self.f.external.get(updated.value) in ("builder", "random")) \
                and updated.value not in self.f.classes and id(original) not in self._call_funcs \
                and not self._annotation and self.build_ctx.rngs_available:
            # a function taking rngs handed on as a value (named_apply(_init_weights, self)):
            # whoever calls it does not know, so ours are bound
            return self.set(bind_rngs(self, updated, self.build_ctx.rngs), L.OTHER_TAG)
        if (updated.value in self.f.random_functions or self.f.external.get(updated.value) == "random") \
                and id(original) not in self._call_funcs and not self._annotation \
                and (self.cls is not None or self.build_ctx.function is not None) and not self.build_ctx.in_init:
            # an init function handed on where there are no rngs: the module's own
            # (timm's init_weights(): named_apply(partial(_init_nest_weights, ...), self)), or
            # the function takes rngs itself
            rngs = self.rngs_here(original, code(original))
            return self.set(bind_rngs(self, updated, rngs) if rngs else updated, L.OTHER_TAG)
        if updated.value in self.f.classes and id(original) not in self._call_funcs and not self._annotation:
            # a translated class handed around (blocks = [BasicConv2d, ...]): calling it builds a layer
            return self.set(updated, Tag(L.MODULE, module=ModuleRef(
                "factory", elements=(ModuleRef("class", cls=updated.value),))))
        return updated

    # ------------------------------------------------------ classes as values
    def visit_Call(self, node):
        self._call_funcs.add(id(node.func))
        flag_splits.note_args(self, node)
        if isinstance(node.func, cst.Name) and node.func.value in ("isinstance", "issubclass") and len(node.args) > 1:
            types = [node.args[1].value]
            if isinstance(node.args[1].value, cst.Tuple):
                types += [e.value for e in node.args[1].value.elements]
            # issubclass's classes are layer classes as values (torch_class); isinstance's check NNX layers
            (self._subclass_nodes if node.func.value == "issubclass" else self._type_nodes).update(map(id, types))

    def visit_Import(self, node):
        self.bind_local_import(node)
        return False  # names in imports are bindings, not uses

    def visit_ImportFrom(self, node):
        self.bind_local_import(node)
        return False

    def visit_Annotation(self, node):
        self._annotation += 1

    def leave_Annotation(self, original, updated):
        self._annotation -= 1
        return updated

    def torch_value(self, original, updated, q: str):
        """A torch name used as a value, not called: a constant (torch.float32),
        a class in a type position (annotation, isinstance) or a layer class
        handed around as a factory (``norm_layer = nn.BatchNorm2d``)."""
        rule = registry.constant(q)
        if rule is not None:
            new = self.apply_constant(original, updated, rule)
            return new if new is not None else updated
        rule = registry.lookup(q)
        if rule is not None and not rule.layer and not self._annotation:
            return self.function_value(original, updated, rule)
        if rule is None or not rule.layer:
            return updated
        if self._annotation or id(original) in self._type_nodes:
            cls = self.nnx_class(rule)
            if cls is None:
                return updated  # no NNX class (a stateless layer): the leftover pass marks it
            if not self._annotation:
                cls = ranked_type(rule, cls, self.build_ctx)
            return self.set(expr(cls), L.OTHER_TAG)
        return self.factory(original, rule, {})

    def function_value(self, original, updated, rule: Rule):
        """``torch.sigmoid`` handed around as a function: a lambda over its
        required parameters, translated like a call."""
        from ..rules.base import Args, parse_params, _REQUIRED

        required = [n for n, d, k in parse_params(rule.params) if k == "pos" and d is _REQUIRED]
        try:
            body = rule.build(Args(rule.params, {n: n for n in required}, [], {}), self.build_ctx)
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name} as a value: {e.message}")
            return updated
        for h in rule.helpers:
            self.f.helpers.add(h)
        return self.set(expr(f"(lambda {', '.join(required)}: {body})"), L.OTHER_TAG)

    def nnx_class(self, rule: Rule):
        maps = rule.weights if isinstance(rule.weights, tuple) else ((rule.weights,) if rule.weights else ())
        for w in maps:
            if w.nnx_class.startswith("nnx."):
                return w.nnx_class
        if rule.name in ("torch.nn.Sequential",):
            return "nnx.Sequential"
        if rule.name in ("torch.nn.ModuleList",):
            return "nnx.List"
        if rule.name in ("torch.nn.ModuleDict",):
            return "nnx.Dict"
        if rule.name in ("torch.nn.Dropout", "torch.nn.Dropout1d", "torch.nn.Dropout2d", "torch.nn.Dropout3d"):
            return "nnx.Dropout"
        return None

    def factory(self, original, rule: Rule, given: dict[str, str], keywords: dict[str, str] | None = None):
        """``nn.BatchNorm2d`` as a value: a class named like torch's whose
        construction builds the NNX layer (stateful layers take ``rngs``, like
        every translated constructor), accepting torch's parameters.

        ``given`` are arguments built into the value (a partial's positional
        ones); ``keywords`` a partial's keywords, bound with
        ``functools.partial`` over the class so callers may pass them again
        and code may unbind them (``p.func``, ``p.keywords``) as in torch."""
        from ..rules.base import Args, parse_params, _REQUIRED

        keywords = keywords or {}
        spec = parse_params(rule.params)
        required = [n for n, d, k in spec if k == "pos" and d is _REQUIRED and n not in given]
        # torch's optional parameters too, callers pass them (conv_layer(in, out, k, stride, padding))
        optional = [(n, d) for n, d, k in spec if k in ("pos", "kwonly") and d is not _REQUIRED
                    and n not in given and n not in ("device", "dtype") and not n.startswith("_")]
        body = None
        for opts in (optional, [(n, d) for n, d in optional if n == "inplace"]):
            while body is None:
                params = list(required) + [f"{n}={d}" for n, d in opts]
                # torch's `*args` / `**kwargs` (nn.Identity(*args, **kwargs) takes anything): accepted, unused
                params.append("*args" if any(k == "varargs" for _, _, k in spec) else "*")
                # factory arguments callers hand on (`conv_layer(i, o, 3, **dd)`): accepted, dropped as in calls
                params += [f"{n}=None" for n, _, _ in spec if n in ("device", "dtype") and n not in given]
                params.append("rngs" if rule.stateful else "rngs=None")
                if any(k == "varkw" for _, _, k in spec):
                    params.append("**kwargs")
                args = Args(rule.params, {**{n: n for n in required}, **{n: n for n, _ in opts}, **given}, [], {})
                try:
                    body = rule.build(args, self.build_ctx)
                except Unsupported as e:
                    error = e
                    if e.param is None or e.param not in {n for n, _ in opts}:
                        break
                    # a parameter the build takes only as a constant: left out of the factory's
                    # signature (its default is built; a caller passing it gets a TypeError)
                    opts = [(n, d) for n, d in opts if n != e.param]
            if body is not None:
                break
        accepted = set(required) | {n for n, _ in opts} | {n for n, _, _ in spec if n in ("device", "dtype")}
        if body is not None and keywords and not set(keywords) <= accepted \
                and not any(k == "varkw" for _, _, k in spec):
            # a keyword the class value cannot take at run time: built in as a constant
            return self.factory(original, rule, {**given, **keywords})
        if body is None:
            self.todo(original, error.code, f"{rule.name} as a value: {error.message}")
            return self.set(original, L.UNKNOWN_TAG)
        for h in rule.helpers:
            self.f.helpers.add(h)
        self.record_weights(rule, body)
        bound = Args(rule.params, {**args.given_src, **keywords}, [], {})
        ref = ModuleRef("factory", rule=rule, layout=rule.layout_of(bound) if rule.layout_of else None)
        value = f"(lambda {', '.join(params)}: {body})"
        if not given:
            # the class itself: code may inspect it like torch's (timm's get_norm_act_layer maps
            # a norm layer by __name__, by `in` a set of types; issubclass(act_layer, StarReLU))
            value = f"{self.build_ctx.helper('torch_class')}({rule.short!r}, {self.nnx_class(rule)}, {value[1:-1]})"
        if keywords:
            value = f"functools.partial({value}, {', '.join(f'{k}={v}' for k, v in keywords.items())})"
        return self.set(expr(value), Tag(L.MODULE, module=ref))

    def partial_factory(self, original, updated):
        """``partial(nn.BatchNorm2d, eps=1e-3)``: a factory with those arguments bound."""
        from ..rules.base import parse_params

        m = self.tag(updated.args[0].value).module
        if m is None or m.kind != "factory" or m.rule is None:
            return self.set(updated, self.tag(updated.args[0].value))
        spec = [n for n, _, k in parse_params(m.rule.params) if k == "pos"]
        given, keywords = {}, {}
        for i, a in enumerate(updated.args[1:]):
            if a.star:
                self.todo(original, "T2N002", "partial of a layer class with starred arguments")
                return self.set(updated, L.UNKNOWN_TAG)
            name = a.keyword.value if a.keyword is not None else (spec[i] if i < len(spec) else None)
            if name is None:
                self.todo(original, "T2N002", "partial of a layer class with too many arguments")
                return self.set(updated, L.UNKNOWN_TAG)
            (keywords if a.keyword is not None else given)[name] = code(a.value)
        return self.factory(original, m.rule, given, keywords)

    def filtered_layers(self, call) -> Optional[Tag]:
        """``filter(None, [conv, norm_layer(c), aa if aa else None])``: the layers of the
        list, in order (``nn.Sequential(*filter(None, [...]))`` is a Sequential of them)."""
        if not (isinstance(call.func, cst.Name) and call.func.value == "filter" and "filter" not in self.env
                and len(call.args) == 2 and not any(a.star or a.keyword for a in call.args)
                and isinstance(call.args[0].value, cst.Name) and call.args[0].value.value == "None"
                and isinstance(call.args[1].value, (cst.List, cst.Tuple))):
            return None
        refs = []
        for e in call.args[1].value.elements:
            v = e.value
            if _is_none(v) or isinstance(e, cst.StarredElement):
                if isinstance(e, cst.StarredElement):
                    return None
                continue
            if isinstance(v, cst.IfExp) and _is_none(v.orelse):
                v = v.body  # `create_aa(...) if aa_layer is not None else None`: that layer, when present
            t = self.tag(v)
            if t.kind != L.MODULE or t.module is None:
                return None
            refs.append(t.module)
        return Tag(L.MODULE, module=ModuleRef("list", elements=tuple(refs))) if refs else None

    def call_factory(self, original, updated, m: ModuleRef):
        """``norm_layer(planes)``: builds a layer; gets ``rngs`` like a constructor."""
        if not self.build_ctx.rngs_available:
            if self._called_on_a_tensor(updated):
                # `self.downsample(x)` in forward, the attribute annotated a layer class
                # (`downsample: Optional[Type[nn.Module]]`) but handed a built module:
                # a module of unknown class applied to the tensor
                return self.call_module(original, updated, UNKNOWN_MODULE)
            self.todo(original, "T2N004", "a layer factory called outside a layer-building function")
            return self.set(updated, L.UNKNOWN_TAG)
        new = self.add_rngs(updated)
        if m.rule is not None:
            return self.set(new, Tag(L.MODULE, module=ModuleRef("layer", rule=m.rule, layout=m.layout)))
        if m.elements:
            return self.set(new, Tag(L.MODULE, module=m.elements[0] if len(m.elements) == 1
                                     else ModuleRef("union", elements=m.elements)))
        # a layer of unknown class: maybe a stateless one NNX holds as a function
        return self.set(new, Tag(L.MODULE, module=ModuleRef("unknown", function=True)))

    def _called_on_a_tensor(self, call) -> bool:
        """A call in a module's forward whose first argument is a tensor (no layer
        class takes one to be built)."""
        if not call.args or call.args[0].keyword is not None or call.args[0].star \
                or self.cls is None or self.func_name != "forward":
            return False
        t = self.tag(call.args[0].value)
        return t.kind == L.TENSOR or (t.kind == L.FREE and t.param in self.summary.params)

    def leave_Lambda(self, original, updated):
        """``lambda d: Block(d)`` handed on as a factory: whoever calls it passes
        ``rngs`` as to any factory, so it takes them (ours by default)."""
        if not self.build_ctx.rngs_available or not _passes_rngs(updated.body):
            return updated
        return updated.with_changes(params=takes_own_rngs(updated.params, self.build_ctx.rngs))

    def leave_Integer(self, original, updated):
        return self.set(updated, L.OTHER_TAG)

    def leave_Float(self, original, updated):
        return self.set(updated, L.OTHER_TAG)

    def leave_SimpleString(self, original, updated):
        return self.set(updated, L.OTHER_TAG)

    def leave_UnaryOperation(self, original, updated):
        return self.set(updated, self.tag(updated.expression))

    def leave_List(self, original, updated):
        return self._sequence(updated)

    def leave_Tuple(self, original, updated):
        return self._sequence(updated)

    def _sequence(self, updated):
        tags = [self.tag(e.value) for e in updated.elements]
        tensors = [t for t in tags if t.kind in (L.TENSOR, L.FREE)]
        if not tags and isinstance(updated, cst.List):
            return self.set(updated, Tag(L.SEQ))  # an empty list: filled by .append
        if not tensors:
            if tags and all(t.kind == L.MODULE for t in tags):
                return self.set(updated, Tag(L.MODULE, module=ModuleRef(
                    "list", elements=tuple(t.module for t in tags))))
            return self.set(updated, Tag(L.OTHER) if tags and all(t.kind == L.OTHER for t in tags) else L.UNKNOWN_TAG)
        perms = {t.perm for t in tensors if t.kind == L.TENSOR}
        if len(perms) <= 1:
            tag = next((t for t in tensors if t.kind == L.TENSOR), tensors[0])
            if len(tensors) == len(tags):
                for t in tensors:
                    if t.kind == L.FREE:
                        self.decide(t, tag)
            if tag.kind == L.FREE:
                return self.set(updated, Tag(L.SEQ, param=tag.param))
            return self.set(updated, tag.with_(kind=L.SEQ, module=tuple(tags)))
        if isinstance(updated, cst.Tuple):
            # a tuple of differently laid-out tensors (several outputs): each keeps its own
            return self.set(updated, Tag(L.SEQ, module=tuple(tags)))
        # mixed layouts in one list (cat of a conv output and a plain tensor): torch order
        elems = [e.with_changes(value=self.canonical(e.value, "mixed layouts in one sequence"))
                 for e in updated.elements]
        return self.set(updated.with_changes(elements=elems), L.plain().with_(kind=L.SEQ))

    def leave_BinaryOperation(self, original, updated):
        left, right = updated.left, updated.right
        lt, rt = self.tag(left), self.tag(right)
        if isinstance(updated.operator, cst.MatrixMultiply):
            left, right = self.canonical(left), self.canonical(right)
            return self.set(updated.with_changes(left=left, right=right), L.plain())
        if isinstance(updated.operator, cst.Add) and lt.kind == L.SEQ and rt.kind == L.SEQ:
            return joined_lists(self, updated, lt, rt)
        left, right, tag = self.elementwise(left, right, lt, rt)
        return self.set(updated.with_changes(left=left, right=right), tag)

    def elementwise(self, left, right, lt: Tag, rt: Tag):
        """Two operands of a broadcasting op: agree on a layout."""
        if lt.kind == L.OTHER or rt.kind not in (L.TENSOR, L.FREE):
            return left, right, rt if lt.kind == L.OTHER and rt.is_tensor else (lt if lt.is_tensor else L.UNKNOWN_TAG)
        if rt.kind == L.OTHER:
            return left, right, lt
        if lt.kind == L.FREE and rt.kind == L.FREE:
            return left, right, lt
        if lt.kind == L.FREE or rt.kind == L.FREE:
            free, other = (lt, rt) if lt.kind == L.FREE else (rt, lt)
            # a layer's weight read in its kernel order (`w.mul_(scale)`) says nothing
            # of the parameter's layout: the product keeps the kernel's order
            return left, right, other if other.weight else self.decide(free, other)
        if lt.perm == rt.perm or (not lt.channels_last and not rt.channels_last):
            # broadcasting: the result has the larger rank (and that operand's roles)
            big, small = (rt, lt) if (rt.rank or 0) > (lt.rank or 0) else (lt, rt)
            return left, right, big.with_(one=lt.one and rt.one, roles=big.roles or small.roles,
                                          rank=big.rank if big.rank is not None and small.rank is not None else None)
        # one channels-last, one not
        cl, other = (lt, rt) if lt.channels_last else (rt, lt)
        rank = len(cl.perm)

        def moved_small(template):
            # the other operand rewritten (template of its code) to broadcast channels-last
            self.transposes += 1
            if cl is lt:
                return left, expr(template(code(right))), cl.with_(one=False)
            return expr(template(code(left))), right, cl.with_(one=False)
        want = image_batches.by_channel_operand(cl)
        if want is not None:
            self.ask_image(other, want)
        if cl.roles is None and other.kind == L.TENSOR and other.rank == rank:
            # a torch-order tensor next to one only permuted lazily (`pos.permute(0, 2, 1)`,
            # no image axes known): torch order, so a token tensor never turns into the
            # channels-last form of an image the layers it reaches next would assume
            if cl is lt:
                left = self.to_layout(left, cl, other)
            else:
                right = self.to_layout(right, cl, other)
            return left, right, other.with_(one=False)
        if other.rank == rank or (other.perm is not None and len(other.perm) == rank):
            if cl is lt:
                right = self.to_layout(right, other, cl)
            else:
                left = self.to_layout(left, other, cl)
            return left, right, cl.with_(one=False)
        if other.kind == L.TENSOR and other.rank is not None and 0 < other.rank < rank and not other.channels_last:
            # a smaller operand (a (C, 1, 1) layer scale) broadcasts over torch's
            # trailing dims: give it the leading 1s and the channels-last order
            lead = tuple(range(rank - other.rank))
            return moved_small(lambda small: f"jnp.transpose(jnp.expand_dims({small}, "
                                             f"{lead if len(lead) > 1 else lead[0]}), {tuple(cl.perm)})")
        if other.kind == L.TENSOR and other.rank is None and other.perm is None and not other.weight \
                and cl.perm == L.cl_perm(rank) and cl.roles in (None, L.spatial_roles(rank)):
            # a torch-order tensor of a rank known at run time only (a per-channel view to a
            # shape computed in __init__): given the leading 1s and the order there
            return moved_small(lambda small: f"{self.build_ctx.helper('torch_broadcast_cl')}({small}, "
                                             f"{tuple(cl.perm)})")
        # unknown rank: fall back to torch order (correct, one transpose)
        left = self.canonical(left, "operand of unknown rank next to a channels-last tensor")
        right = self.canonical(right, "operand of unknown rank next to a channels-last tensor")
        return left, right, L.plain()

    def leave_Comparison(self, original, updated):
        updated = _dtype_identity(updated)
        t = self.tag(updated.left)
        for c in updated.comparisons:
            t = t if t.is_tensor else self.tag(c.comparator)
        return self.set(updated, t if t.is_tensor else L.OTHER_TAG)

    def leave_IfExp(self, original, updated):
        a, b = self.tag(updated.body), self.tag(updated.orelse)
        either = factory_choice(a.module, b.module) if a.kind == b.kind == L.MODULE else None
        if either is not None:
            # `partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear`: either layer
            return self.set(updated, Tag(L.MODULE, module=either))
        if a.kind == L.MODULE and _is_none(updated.orelse):
            # `nn.Conv2d(c, 1, 1) if use_attn else None`: an optional layer slot, only
            # ever called holding the layer (timm's GlobalContext `conv_attn`)
            return self.set(updated, a)
        if b.kind == L.MODULE and _is_none(updated.body):
            return self.set(updated, b)
        return self.set(updated, L.join(a, b))

    def leave_Attribute(self, original, updated):
        q = self.f.imports.qualify(updated)
        store = self.is_store(original)
        if q is not None and self.f.imports.is_torch(q):
            if id(original) in self._call_funcs or store:
                return updated  # a torch attribute written to: the leftover pass marks it
            return self.torch_value(original, updated, q)
        base = updated.value
        name = updated.attr.value
        if name == REQUIRES_GRAD_ATTR and id(original) not in self._call_funcs \
                and id(original) not in self.assign_targets and not self.is_imported(base):
            # `p.requires_grad` read: False for a parameter frozen with requires_grad_(False)
            return self.set(expr(f"{self.build_ctx.helper('module_requires_grad')}({code(base)})"), L.OTHER_TAG)
        if is_mode_flag(self, updated):
            # torch's mode flag: translated classes hold `deterministic`, which
            # model.eval() / model.train() set, like they do for nnx.Dropout
            if store:
                return self.set(updated, L.OTHER_TAG)  # the assignment sets the flag (modeflag.py)
            self.cls.uses_training = True
            return self.set(expr(MODE_FLAG_READ), L.OTHER_TAG)
        if isinstance(base, cst.Name) and base.value == "self" and self.cls is not None and self.cls.row is not None \
                and self.layer_attr(self.cls.row, name) is not None and name not in dict(self.cls.row.init_attrs):
            # a subclass of a torch layer reads its weights under the NNX layer's names
            hyper = name in dict(self.cls.row.attrs)
            return self.set(self.layer_read(original, updated, self.layer_attr(self.cls.row, name), store),
                            L.OTHER_TAG if hyper else weight_tag([self.cls.row], name))
        if isinstance(base, cst.Name) and base.value == "self" and self.cls is not None:
            bound = rngs_method_value(self, original, updated)
            if bound is not None:
                return bound
            info = self.lookup_attr(name)
            if isinstance(info, ModuleRef):
                return self.set(updated, Tag(L.MODULE, module=info))
            if isinstance(info, Tag):
                return self.set(updated, info)
            return self.set(updated, L.UNKNOWN_TAG if name not in ("training",) else L.OTHER_TAG)
        bt = self.tag(base)
        held = named_members.member_read(self, base, bt, name) if not store else None
        if held is not None:  # a layer of a Sequential built with names, read as an attribute
            return self.set(updated, Tag(L.MODULE, module=held))
        if bt.kind == L.MODULE and bt.module is not None and bt.module.kind == "dict":
            member = dict(bt.module.elements).get(name)
            if member is not None:  # an entry of a ModuleDict read as an attribute
                return self.set(updated, Tag(L.MODULE, module=member))
        if bt.kind == L.MODULE and bt.module is not None:
            rules = [bt.module.rule] if bt.module.kind == "layer" else [
                e.rule for e in bt.module.elements if e.kind == "layer"] if bt.module.kind == "union" else []
            names = {self.layer_attr(r, name) for r in rules if r is not None}
            if bt.module.kind == "union" and len(rules) < len(bt.module.elements):
                names = set()  # a translated class among them holds torch's names: at run time
            if rules and len(names) == 1 and None not in names:
                hyper = all(name in dict(r.attrs) for r in rules if r is not None)  # a number, not a weight
                return self.set(self.layer_read(original, updated, names.pop(), store),
                                L.OTHER_TAG if hyper else weight_tag(rules, name))
            if bt.module.kind == "class":
                info = self.f.classes.get(bt.module.cls)
                attr = info.attrs.get(name) if info else None
                if isinstance(attr, ModuleRef):
                    return self.set(updated, Tag(L.MODULE, module=attr))
        if bt.kind in (L.UNKNOWN, L.OTHER) and name in self.f.factory_fields and id(original) in self._call_funcs:
            # `block_cnf.block(...)`: a config object's layer factory
            elements = tuple(ModuleRef("class", cls=c) for c in self.f.factory_fields[name])
            return self.set(updated, Tag(L.MODULE, module=ModuleRef("factory", elements=elements)))
        dprop = registry.dtype_property(name)
        if dprop is not None and not store and id(original) not in self._call_funcs and bt.kind != L.MODULE \
                and (not self.is_imported(base) or code(base) in DTYPE_VALUES):
            # a torch.dtype's attribute (dtype.is_floating_point): no tensor or module has it
            return self.set(expr(dprop.build(bind(dprop.params, [code(base)], {}), self.build_ctx)), L.OTHER_TAG)
        if name == "data" and not store and id(original) not in self._call_funcs and (
                self.is_runtime_weight(bt) or bt.kind == L.TENSOR and dotted(base) and not self.is_imported(base)):
            # w.data: the same tensor (the same Variable, in the same order)
            return self.set(base, bt)
        if (bt.is_tensor or bt.kind == L.FREE) and not store and not self.is_imported(base):
            # a Tensor property (x.device) on what may be a tensor; never on a
            # place written to, nor on a module (tf.device, an imported name)
            prop = registry.tensor_property(name)
            if prop is not None:
                return self.apply_property(original, updated, prop, bt)
        if self.untyped_layer_param(original, base, bt, name, store):
            # `layer.attn.proj.weight` on a layer the analysis could not type (built by a
            # factory, an item of a list of blocks): the NNX layer's attribute at run time
            helper = self.build_ctx.helper("torch_layer_attr")
            return self.set(expr(f"{helper}({code(base)}, {name!r})"), L.UNKNOWN_TAG.with_(weight=True))
        if name in kept_torch_params() and self.untyped_layer_param(original, base, bt, "weight", store):
            # `layer.head.fc.bias` likewise: NNX keeps the name, the read is a weight all the same
            # (`.bias.data.mul_(s)` is an in-place write to it)
            return self.set(updated, L.UNKNOWN_TAG.with_(weight=True))
        if not store and id(original) not in self._call_funcs and not self.is_imported(base):
            held = sequence_values.attribute_module(self, bt)
            if held is not None:  # `backbone.features` of a model handed in: a module
                return self.set(updated, held)
        return self.set(updated, L.UNKNOWN_TAG)

    def untyped_layer_param(self, original, base, bt: Tag, name: str, store: bool) -> bool:
        if store or id(original) in self._call_funcs or name not in renamed_torch_params() | renamed_torch_attrs() \
                or self.is_imported(base) or not dotted(base):
            return False
        if bt.kind == L.MODULE:
            m = bt.module
            if m is not None and m.kind == "class":
                info = self.f.classes.get(m.cls)
                # a translated class's own parameter, attribute or property
                return info is None or (name not in info.attrs and name not in info.methods)
            return m is None or m.kind in ("unknown", "factory", "union")
        return bt.kind == L.UNKNOWN and isinstance(base, cst.Attribute)

    def layer_attr(self, rule: Rule, name: str):
        """A torch layer's parameter name (``weight``) on the NNX layer (``kernel``)."""
        maps = rule.weights if isinstance(rule.weights, tuple) else ((rule.weights,) if rule.weights else ())
        for w in maps:
            for e in w.entries:
                if e.torch_name == name:
                    return e.nnx_name
        return dict(rule.attrs).get(name)

    def layer_read(self, original, updated: cst.Attribute, mapped: str, store: bool):
        """``layer.<torch attribute>`` on the NNX layer: its own name (``weight`` ->
        ``scale``), or an expression over it where NNX keeps another form
        (``{layer}``: torch's BatchNorm momentum is ``1 - `` NNX's)."""
        if mapped.isidentifier():
            return updated.with_changes(attr=cst.Name(mapped))
        if store:
            self.todo(original, "T2N004", f"assigns .{updated.attr.value}, which NNX holds as {mapped.format(layer='layer')}")
            return updated
        return expr(f"({self.form_helpers(mapped).format(layer=code(updated.value))})")

    def form_helpers(self, form: str) -> str:
        """A row's expression over a layer, with the runtime helpers it calls (ntuple) emitted."""
        for name in set(re.findall(r"\b([A-Za-z_]\w*)\(", form)):
            if name in definitions("helpers.py"):
                alias = self.build_ctx.helper(name)
                if alias != name:
                    form = re.sub(rf"\b{name}\(", alias + "(", form)
        return form

    def lookup_attr(self, name):
        seen = set()
        cls = self.cls
        while cls is not None and cls.name not in seen:
            seen.add(cls.name)
            if name in cls.attrs:
                return cls.attrs[name]
            if "*" in cls.attrs and not _defines(cls, name) and name not in MODULE_METHOD_NAMES:
                # set with setattr under a computed name (never one of torch's Module methods)
                return cls.attrs["*"]
            cls = next((self.f.classes[b] for b in cls.bases if b in self.f.classes), None)
        return None

    def apply_constant(self, original, updated, rule: Rule):
        try:
            src = rule.build(None, self.build_ctx)
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name}: {e.message}")
            return None
        new = expr(src)
        return self.set(new, L.OTHER_TAG)

    def apply_property(self, original, updated, rule: Rule, bt: Tag):
        if rule.layout.kind == "shape" and self.is_runtime_weight(bt):
            # `w.shape` of a layer's weight known only at run time: torch's shape
            return self.set(updated.with_changes(value=self.canonical(updated.value)), L.OTHER_TAG)
        if rule.layout.kind == "shape":
            # x.shape: the tuple keeps the tensor's tag so indexing and unpacking remap
            new = updated
            return self.set(new, Tag(L.SHAPE, perm=bt.perm if bt.kind == L.TENSOR else None,
                                     param=bt.param if bt.kind == L.FREE else None,
                                     roles=bt.roles if bt.kind == L.TENSOR else None))
        return self.apply_rule(original, rule, [code(updated.value)], {}, [updated.value])

    def leave_Subscript(self, original, updated):
        layer = module_api.subscript(self, updated, store=self.is_store(original))
        if layer is not None:  # seq[i] on an nnx.Sequential: its layers
            return layer
        vt = self.tag(updated.value)
        if self.is_runtime_weight(vt) and not self.is_store(original):
            # `w[:, :3]` of a layer's weight known only at run time: read in torch's order
            return self.set(updated.with_changes(value=self.canonical(updated.value)), L.UNKNOWN_TAG)
        if vt.kind == L.SHAPE:
            if vt.param and len(updated.slice) == 1 and isinstance(updated.slice[0].slice, cst.Index) \
                    and code(updated.slice[0].slice.value) == "0" \
                    and self.resolve(Tag(L.FREE, param=vt.param)).kind == L.FREE:
                # the batch size (ViT's B = x.shape[0]) reads axis 0 in every layout: no decision
                return self.set(updated, Tag(L.OTHER, roles=("N",)))
            if vt.param:
                vt = self.resolve(Tag(L.FREE, param=vt.param))
                if vt.kind == L.FREE:
                    # read in torch order for want of a layout (the origin lets a
                    # spatial layer it reaches later ask for channels-last next round)
                    vt = self.decide(vt, L.plain().with_(origin=vt.param))
            perm = vt.perm
            if perm is not None and not L.is_identity(perm) and len(updated.slice) == 1:
                idx = updated.slice[0].slice
                if isinstance(idx, cst.Index):
                    try:
                        i = ast.literal_eval(code(idx.value))
                    except (ValueError, SyntaxError):
                        i = None
                    if isinstance(i, int):
                        new_i = L.physical_axis(perm, i)
                        if i < 0:
                            new_i -= len(perm)
                        new = updated.with_changes(slice=[updated.slice[0].with_changes(
                            slice=cst.Index(value=cst.Integer(str(new_i)) if new_i >= 0 else expr(str(new_i))))])
                        role = (vt.roles[i],) if vt.roles is not None and -len(vt.roles) <= i < len(vt.roles) else None
                        return self.set(new, Tag(L.OTHER, roles=role))
                    # a non-literal index into a channels-last shape: read the torch-order shape
                    return self._shape_fallback(original, updated, perm)
                if isinstance(idx, cst.Slice):
                    # x.shape[-2:] (timm's pad_same reads H, W): the logical axes' physical places
                    return self.shape_slice(original, updated, idx, perm)
            if vt.roles is not None and len(updated.slice) == 1 and isinstance(updated.slice[0].slice, cst.Index):
                try:
                    i = ast.literal_eval(code(updated.slice[0].slice.value))
                except (ValueError, SyntaxError):
                    i = None
                if isinstance(i, int) and -len(vt.roles) <= i < len(vt.roles):
                    return self.set(updated, Tag(L.OTHER, roles=(vt.roles[i],)))
            return self.set(updated, L.OTHER_TAG)
        if vt.kind == L.SEQ:
            items = vt.module if isinstance(vt.module, tuple) else None
            if items and len(updated.slice) == 1 and isinstance(updated.slice[0].slice, cst.Index):
                try:
                    i = ast.literal_eval(code(updated.slice[0].slice.value))
                except (ValueError, SyntaxError):
                    i = None
                if isinstance(i, int) and -len(items) <= i < len(items):
                    return self.set(updated, items[i])
            if vt.perm is None and items:
                return self.set(updated, L.UNKNOWN_TAG)
            return self.set(updated, L.element(vt))
        if (vt.kind == L.TENSOR or vt.kind == L.FREE) and sequence_values.keyed_maps(updated):
            return self.set(updated, vt)  # features["out"]: a dict of maps, each in the layout it came with
        if vt.kind == L.TENSOR or vt.kind == L.FREE:
            return self.tensor_index(original, updated, vt)
        if vt.kind == L.MODULE and vt.module is not None:
            m = vt.module
            if m.kind in ("list", "sequential") and m.elements:
                i = None
                if len(updated.slice) == 1 and isinstance(updated.slice[0].slice, cst.Index):
                    try:
                        i = ast.literal_eval(code(updated.slice[0].slice.value))
                    except (ValueError, SyntaxError):
                        i = None
                if isinstance(i, int) and -len(m.elements) <= i < len(m.elements):
                    inner = m.elements[i]
                elif len(set(map(id, m.elements))) == 1:
                    inner = m.elements[0]
                else:
                    inner = ModuleRef("union", elements=m.elements)
                return self.set(updated, Tag(L.MODULE, module=inner))
            return self.set(updated, Tag(L.MODULE, module=UNKNOWN_MODULE))
        return self.set(updated, L.UNKNOWN_TAG)

    def shape_slice(self, original, updated, idx: cst.Slice, perm):
        bounds = []
        for part in (idx.lower, idx.upper, idx.step):
            try:
                bounds.append(None if part is None else ast.literal_eval(code(part)))
            except (ValueError, SyntaxError):
                return self._shape_fallback(original, updated, perm)
        if not all(b is None or isinstance(b, int) for b in bounds):
            return self._shape_fallback(original, updated, perm)
        axes = [perm.index(i) for i in range(len(perm))[slice(*bounds)]]
        base = code(updated.value)
        if axes and axes == list(range(axes[0], axes[-1] + 1)):
            new = expr(f"{base}[{axes[0]}:{axes[-1] + 1}]")
        else:
            new = expr(f"tuple({base}[a] for a in {tuple(axes)})")
        return self.set(new, L.OTHER_TAG)

    def _shape_fallback(self, original, updated, perm):
        axes = tuple(perm.index(i) for i in range(len(perm)))
        # torch-order shape: tuple(shape[a] for a in logical order)
        new = updated.with_changes(value=expr(f"tuple({code(updated.value)}[a] for a in {axes})"))
        return self.set(new, L.OTHER_TAG)

    def tensor_index(self, original, updated, vt: Tag):
        """``x[...]`` on a tensor: slices and integer indices are moved onto the
        channels-last axes; anything else (None, ..., tensor indices) reads
        the tensor in torch order."""
        if not vt.channels_last:
            if vt.kind == L.FREE:
                # torch's order, provisionally (`x[:, 0]` picking a channel): a spatial
                # layer the result reaches takes the parameter channels-last next round
                origin = vt.param if vt.param not in self.decided and self.func_name != "__init__" \
                    and _picks_a_channel(updated.slice) else None
                self.decide(vt, L.plain().with_(origin=origin))
                return self.set(updated, L.plain().with_(origin=origin))
            if vt.kind != L.TENSOR:
                return self.set(updated, L.plain())
            rank = indexed_rank(self, vt.rank, updated.slice)
            if rank == vt.rank:
                return self.set(updated, vt.with_(one=False))
            # `y[:, :, None, None]`: another rank, so a broadcast next to an image
            # batch sees what it is (roles of the axes no longer known)
            return self.set(updated, L.plain(rank))
        perm = vt.perm
        elems = list(updated.slice)

        def scalar(e):
            if not isinstance(e.slice, cst.Index) or e.slice.star is not None:
                return False
            t = self.tag(e.slice.value)
            return t.kind == L.OTHER and not (isinstance(e.slice.value, cst.Name) and e.slice.value.value == "None")

        simple = len(elems) <= len(perm) and all(isinstance(e.slice, cst.Slice) or scalar(e) for e in elems)
        if simple:
            full = elems + [cst.SubscriptElement(cst.Slice(lower=None, upper=None))] * (len(perm) - len(elems))
            phys = [full[perm[i]] for i in range(len(perm))]

            def is_full(p):
                return isinstance(p.slice, cst.Slice) and p.slice.lower is None and p.slice.upper is None \
                    and p.slice.step is None

            while len(phys) > 1 and is_full(phys[-1]):
                phys.pop()
            phys = [p.with_changes(comma=cst.MaybeSentinel.DEFAULT) for p in phys]
            dropped = {i for i, e in enumerate(elems) if not isinstance(e.slice, cst.Slice)}
            if not dropped:
                return self.set(updated.with_changes(slice=phys), vt.with_(one=False))
            newperm = L.after_reduce(perm, dropped)
            roles = tuple(r for i, r in enumerate(vt.roles) if i not in dropped) if vt.roles else None
            # a plain result keeps what its axes are (`x[:, 0]`: (N, H, W), channel_unsqueeze.py)
            tag = L.plain(len(newperm)).with_(roles=roles) if L.is_identity(newperm) \
                else Tag(L.TENSOR, perm=newperm, roles=roles)
            return self.set(updated.with_changes(slice=phys), tag)
        value = self.canonical(updated.value, "indexing a channels-last tensor with None, ... or a tensor")
        return self.set(updated.with_changes(value=value), L.plain())

    # ----------------------------------------------------------------- calls
    def leave_Call(self, original, updated):
        func = updated.func
        value = applied_identity(updated)
        if value is not None:  # torch.compile(mode=...)(fn): fn
            return self.set(value, self.tag(value))
        kept = self.filtered_layers(updated)
        if kept is not None:
            return self.set(updated, kept)
        q = self.f.imports.qualify(func)
        if q is None and isinstance(original.func, cst.Attribute):
            # a static method of a torch class (nn.Transformer.generate_square_subsequent_mask):
            # the class name inside was already rewritten as a value
            q0 = self.f.imports.qualify(original.func)
            if q0 is not None and registry.lookup(q0) is not None:
                q = q0
        if q == "functools.partial":  # partial(<f with our rngs bound>, x=1): one partial
            updated = flatten_partial(self, updated)
        if module_dict_item(func, self.f):  # `resnet.__dict__[name](...)`: a builder of the run
            return self.set(self.add_rngs(updated), Tag(L.MODULE, module=UNKNOWN_MODULE))
        ext = dotted(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
        if ext in self.f.external:
            # a class or layer builder of another file of this run (`layers.ConvBN`: of its module)
            kind = self.f.external[ext]
            if kind == "random":  # draws random numbers (an init function): hand it our stream
                rngs = self.rngs_here(original, ext)
                return self.set(self.add_rngs(updated, rngs) if rngs else updated, L.UNKNOWN_TAG)
            ref = ModuleRef("class", cls=ext) if kind != "builder" else UNKNOWN_MODULE
            if kind == "builder" and ext in self.f.external_builder_returns:
                # what it returns, as its file exported it (builder_layouts.py)
                return self.set(self.add_rngs(updated), self.f.external_builder_returns[ext])
            if kind == "stateless-class" and not self.build_ctx.rngs_available:
                return self.set(updated, Tag(L.MODULE, module=ref))  # built where there are no rngs
            return self.set(self.add_rngs(updated), Tag(L.MODULE, module=ref))
        if self.cls is not None and self.cls.row is not None and isinstance(func, cst.Attribute) \
                and func.attr.value in ("forward", "__call__") and isinstance(func.value, cst.Call) \
                and code(func.value) == "super()" and updated.args:
            return self.super_forward(updated)
        if self.cls is not None and self.cls.row is not None and is_super_reset(updated) \
                and not any(b in self.f.classes for b in self.cls.bases):
            # the torch layer's own reset_parameters: its default initialisation, drawn again
            helper = self.build_ctx.helper("torch_reset_parameters")
            try:
                return self.set(expr(f"{helper}(self, {self.build_ctx.fill_rngs()})"), L.OTHER_TAG)
            except Unsupported as e:
                self.todo(original, e.code, e.message)
                return self.set(updated, L.OTHER_TAG)
        if q is not None and self.f.imports.is_torch(q):
            rule = registry.lookup(q)
            if rule is None:
                last = q.rsplit(".", 1)[-1]
                in_model = self.cls is not None or self.build_ctx.rngs_available
                if not self.f.imports.is_dropped(q) and not (last[:1].isupper() and in_model):
                    # torchvision/einops plumbing (utility functions, weights enums): kept
                    return self.set(updated, L.UNKNOWN_TAG)
                self.todo(original, "T2N001", f"{q} is not supported")
                return self.set(updated, L.UNKNOWN_TAG)
            pos, kw, nodes = self.call_args(updated)
            if pos is None and rule.kwargs_adapter is not None:
                return self.adapt_kwargs(original, updated, rule)
            if pos is None:
                # nn.Linear(i, o, **dd) with dd a parameter: torch's factory keywords at run time
                built = factory_splat_call(self, original, updated, rule)
                if built is not None:
                    return built
            if pos is None and self.splat_is_inert(updated, rule):
                # nn.Dropout(p, **params) where params can only hold `inplace`
                pos, kw, nodes = self.call_args(updated.with_changes(
                    args=[a for a in updated.args if a.star != "**"]))
            starred = pos is None or splat_binds_named(rule, pos)
            if starred and rule.layer:
                src = starred_layer_source(rule, updated, self.build_ctx.helper)
                if src is not None:  # the row's class binds the arguments at run time
                    return self.set(expr(src), Tag(L.MODULE, module=ModuleRef("layer", rule=rule)))
            if starred and not rule.layer:
                src = starred_call_source(rule, updated, self.build_ctx)
                if src is not None:  # bound at run time by a lambda of the row's signature
                    return self.set(expr(src), L.OTHER_TAG)
            if pos is None:
                self.todo(original, "T2N002", f"{q}: starred arguments are not supported here")
                return self.set(updated, L.UNKNOWN_TAG)
            return self.apply_rule(original, rule, pos, kw, nodes)
        if isinstance(func, cst.Attribute) and func.attr.value == "__init__" and self.cls is not None \
                and self.cls.container == "sequential" and isinstance(func.value, cst.Call) and updated.args:
            # super().__init__(*layers): what the Sequential subclass holds
            refs = []
            for a in updated.args:
                t = self.tag(a.value)
                if t.kind == L.MODULE and t.module is not None:
                    refs += list(t.module.elements) if a.star == "*" and t.module.kind == "list" else [t.module]
            self.cls.elements = tuple(refs)
            return self.set(updated, L.OTHER_TAG)
        if isinstance(func, cst.Attribute) and func.attr.value in ("add_module", "register_module") \
                and len(updated.args) == 2 and not any(a.star or a.keyword for a in updated.args):
            return self.add_module(original, updated)
        if isinstance(func, cst.Attribute) and func.attr.value == "load_state_dict" \
                and self.tag(func.value).kind == L.MODULE and len(updated.args) >= 1 \
                and self.f.options.weights and not any(a.star for a in updated.args):
            # pretrained weights: the generated weights module next to this file ports them
            args = [code(func.value)] + [code(a.value) if a.keyword is None else f"{a.keyword.value}={code(a.value)}"
                                         for a in updated.args]
            self.f.helpers.add("weights_module")
            return self.set(expr(f"weights_module().load_torch_state_dict({', '.join(args)})"), L.OTHER_TAG)
        if isinstance(func, cst.Attribute) and (func.attr.value == "load_state_dict" or (
                func.attr.value == "state_dict" and self.tag(func.value).kind == L.MODULE)):
            self.todo(original, "T2N005", f"{func.attr.value} on a translated model: port torch weights with "
                                          "load_torch_state_dict from the generated weights module")
            return self.set(updated, L.UNKNOWN_TAG)
        by_name = rngs_method_call(self, original, updated)
        if by_name is not None:
            return by_name
        ft = self.tag(func)
        if ft.kind == L.MODULE and ft.module is not None and ft.module.kind == "factory":
            return self.call_factory(original, updated, ft.module)
        if ft.kind == L.MODULE and ft.module is not None and ft.module.kind == "union" and ft.module.elements \
                and all(e.kind == "factory" for e in ft.module.elements):
            # `conv_nd(n)(...)`: one of several layer classes a function hands out
            return self.call_factory(original, updated, ModuleRef("factory", elements=(ModuleRef(
                "union", elements=tuple(_built(e) for e in ft.module.elements)),)))
        if ft.kind == L.MODULE:
            return self.call_module(original, updated, ft.module)
        if q == "functools.partial" and updated.args and self.tag(updated.args[0].value).kind == L.MODULE:
            return self.partial_factory(original, updated)
        if id(original) in self.layer_calls and ft.kind != L.TENSOR:
            # `self.norm = norm_layer(dim)`, `stages += [stage_fn(...)]`: a factory known by its use;
            # `_registry[name](...)`, an alias or partial of a class: those classes (layer_globals)
            return self.call_factory(original, updated, constructed(original.func, self.f) or ModuleRef("factory"))
        if isinstance(func, cst.Attribute) and func.attr.value in ("append", "extend", "insert") and updated.args:
            appended = self.container_add(func, updated)
            if appended is not None:
                return appended
        if isinstance(func, cst.Attribute):
            recv = func.value
            rt = self.tag(recv)
            mname = func.attr.value
            if not (isinstance(recv, cst.Name) and recv.value == "self" and self.cls is not None):
                # torch's Module API (m.named_children(), m.eval() as a value, ...): runtime helpers
                new = module_api.method_call(self, original, updated)
                if new is not None:
                    return new
            if rt.kind == L.MODULE:
                # a module's own method: `self.layer(x)` is handled below; `m.forward` etc.
                pass
            elif mname == "values" and (maps := sequence_values.dict_values(self, rt, updated)) is not None:
                return maps  # a dict of maps' values
            elif rt.kind in (L.TENSOR, L.FREE) or (rt.kind == L.UNKNOWN and registry.unambiguous_method(mname)
                                                     and not self.is_imported(recv)):
                rule = registry.method(mname)
                if rule is not None and not (rule.ambiguous and rt.kind == L.UNKNOWN):
                    pos, kw, nodes = self.call_args(updated)
                    if pos is None:
                        self.todo(original, "T2N002", f"Tensor.{mname}: starred arguments are not supported")
                        return self.set(updated, L.UNKNOWN_TAG)
                    return self.apply_rule(original, rule, [operand(recv, self._operand_parens)] + pos, kw,
                                           [recv] + nodes)
                if rule is None and rt.kind == L.TENSOR and not mname.startswith("_"):
                    self.todo(original, "T2N001", f"Tensor.{mname} is not supported")
                    return self.set(updated, L.UNKNOWN_TAG)
            if isinstance(recv, cst.Name) and recv.value == "self" and self.cls is not None:
                return self.call_self_method(original, updated, mname)
        if isinstance(func, cst.Name) and func.value == "self" and self._has_call():
            # self(x) inside another method (a generation loop calling the model):
            # the class's own __call__ summary gives the result's layout (issue 6)
            return self.call_self_method(original, updated, "__call__")
        if isinstance(func, cst.Name):
            name = func.value
            if name in self.f.classes:
                return self.construct_class(updated, name)
            if name in self.f.builders or name in self.f.local_functions:
                updated = self.weights_handed_on(updated, id(original) in self.statement_calls)
            if name in self.f.builders:
                ret = self.f.builder_returns.get((None, name))
                return self.set(self.add_rngs(updated), ret if ret is not None else
                                Tag(L.MODULE, module=UNKNOWN_MODULE))
            if name in self.f.random_functions:
                # it draws random numbers: hand it our stream (self.rngs in a module)
                rngs = self.rngs_here(original, name)
                updated = self.add_rngs(updated, rngs) if rngs else updated
            if name in self.f.functions:
                return self.call_summary(updated, self.f.functions[name], fname=name)
            if name in self.f.external_functions and name not in self.f.local_functions:
                # a function of another file of the run (timm's rms_norm2d): its layouts
                return self.call_summary(updated, self.f.external_functions[name])
            if name in self.f.local_functions:
                # defined further down: its layouts are known next round; record ours
                for i, a in enumerate(updated.args):
                    t = self.tag(a.value)
                    if t.kind == L.TENSOR and a.keyword is None and not a.star:
                        self.f.record_call(None, name, f"#{i}", t)
                return self.set(updated, self.tag(updated.args[0].value) if updated.args else L.UNKNOWN_TAG)
            if name == "setattr" and len(updated.args) == 3 and self.cls is not None \
                    and isinstance(updated.args[0].value, cst.Name) and updated.args[0].value.value == "self":
                # setattr(self, name, layer): attributes named at run time (stage2, stage3, ...)
                vt = self.tag(updated.args[2].value)
                if vt.kind == L.MODULE and vt.module is not None:
                    self.cls.attrs.setdefault("*", vt.module)
                if self.cls.container == "named":
                    # a Sequential subclass runs its layers in the order they were set
                    return self.set(updated.with_changes(func=expr("self.add_module"), args=updated.args[1:]),
                                    L.OTHER_TAG)
                if vt.kind == L.MODULE and module_api.may_be_function(vt.module):
                    # a stateless layer kept as a function under a computed name: recorded as a child
                    helper = self.build_ctx.helper("module_add_module")
                    return self.set(updated.with_changes(func=cst.Name(helper)), L.OTHER_TAG)
                return self.set(updated, L.OTHER_TAG)
            if name == "hasattr" and len(updated.args) == 2 and not any(a.star or a.keyword for a in updated.args) \
                    and isinstance(updated.args[1].value, cst.SimpleString):
                # issue 6: feature checks on torch (nanoGPT's hasattr(F, 'scaled_dot_product_attention')):
                # true when the translator has a row for that API
                q = self.f.imports.qualify(updated.args[0].value)
                if q is not None and self.f.imports.is_torch(q):
                    found = registry.lookup(f"{q}.{updated.args[1].value.evaluated_value}") is not None
                    return self.set(cst.Name(str(found)), L.OTHER_TAG)
            listed = sequence_values.listed(self, updated, name)
            if listed is not None:
                return listed
            if name in NON_TENSOR_BUILTINS:
                # len(seq), enumerate(seq): an nnx.Sequential's layers
                return self.set(module_api.sequence_args(self, updated), L.OTHER_TAG)
            if name in self.f.plain_classes:
                # an instance of a plain class: its .device or .data is its own attribute
                return self.set(updated, L.OTHER_TAG)
        if q is not None and q.split(".")[0] in NON_TENSOR_MODULES:
            # re.compile(...), os.path.join(...): what it returns is no tensor (its .sub is not Tensor.sub)
            return self.set(updated, L.OTHER_TAG)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in self.env:
            # a method of a local Python object (a list's append, a dict's get): not a boundary
            return self.set(updated, L.UNKNOWN_TAG)
        # a call the translator cannot see into: hand it torch-order values
        args = []
        changed = False
        for a in updated.args:
            t = self.tag(a.value)
            if self.is_moved_weight(t) and id(original) in self.statement_calls:
                # a call made for its effect (an init helper filling the weight): the Variable
                args.append(self.hand_on_weight(a, t))
                changed = True
            elif t.channels_last:
                args.append(a.with_changes(value=self.canonical(
                    a.value, "value passed to code the translator cannot see")))
                changed = True
            else:
                args.append(a)
        if changed:
            updated = updated.with_changes(args=args)
        return self.set(updated, L.UNKNOWN_TAG)

    @staticmethod
    def is_moved_weight(t: Tag) -> bool:
        return t.kind == L.TENSOR and t.weight and not L.is_identity(t.perm)

    def weights_handed_on(self, call: cst.Call, in_place: bool = True) -> cst.Call:
        if not any(self.is_moved_weight(self.tag(a.value)) for a in call.args):
            return call
        return self.set(call.with_changes(args=[self.hand_on_weight(a, self.tag(a.value), in_place)
                                                if self.is_moved_weight(self.tag(a.value)) else a
                                                for a in call.args]), self.tag(call))

    def hand_on_weight(self, arg: cst.Arg, t: Tag, in_place: bool = True) -> cst.Arg:
        """A layer's weight handed to a function. A call made for its effect (an
        init helper filling it): the NNX Variable itself (what the function writes
        lands in the layer), marked with torch's axis order. A call whose value is
        used (``conv2d_same(x, self.weight, ...)``): the kernel as an array in
        torch's order, so the callee reads torch's shape and hands it to F.conv2d
        as torch does (a Variable never reaches jax.lax)."""
        helper = "torch_weight" if in_place else "torch_array"
        return arg.with_changes(value=expr(
            f"{self.build_ctx.helper(helper)}({code(arg.value)}, {tuple(t.perm)!r})"))

    def super_forward(self, updated: cst.Call):
        """``super().forward(x)`` in a subclass of a torch layer: the row's layout
        applies to ``x`` (a layout the row decides per call takes torch order)."""
        lay = self.cls.row.layout
        if lay.kind not in ("elementwise", "spatial", "spatial_any", "channel", "plain", "reshape"):
            lay = PLAIN
        first = updated.args[0]
        node, out = self.apply_layout_unary(first.value, self.tag(first.value), lay)
        func = updated.func.with_changes(attr=cst.Name("__call__"))
        return self.set(updated.with_changes(func=func, args=[first.with_changes(value=node)] + list(updated.args[1:])),
                        out)

    def is_imported(self, node) -> bool:
        """A name bound by an import (a module or function, never a tensor)."""
        while isinstance(node, cst.Attribute):
            node = node.value
        return isinstance(node, cst.Name) and (node.value in self._local_imports or node.value not in self.env and (
            node.value in self.f.imports.names or node.value in self.f.imports.relative))

    def add_module(self, original, call: cst.Call):
        """``m.add_module(name, layer)``: a named entry of a dict-like container,
        or an attribute (what torch's state_dict sees either way)."""
        recv = call.func.value
        if call.func.attr.value == "register_module":
            call = call.with_changes(func=call.func.with_changes(attr=cst.Name("add_module")))
        name, value = call.args[0].value, call.args[1].value
        vt = self.tag(value)
        if isinstance(recv, cst.Name) and recv.value == "self" and self.cls is not None:
            literal = name.evaluated_value if isinstance(name, cst.SimpleString) else None
            if not self.cls.container and isinstance(literal, str) and literal.isidentifier():
                # a name known here: the attribute torch registers (a stateless layer is listed)
                self.bind_target(expr(f"self.{literal}"), vt)
                if vt.kind == L.MODULE and module_api.may_be_function(vt.module) and literal not in self.cls.stateless:
                    self.cls.stateless.append(literal)
                return self.set(expr(f"setattr(self, {code(name)}, {code(value)})"), L.OTHER_TAG)
            if vt.kind == L.MODULE and vt.module is not None:
                self.cls.attrs.setdefault("*", vt.module)
                if self.cls.container in ("dict", "named") and isinstance(literal, str) and literal.isidentifier():
                    # read back as self.<name> (timm's ConvNorm: self.bn.weight is the BatchNorm's scale)
                    self.cls.attrs[literal] = vt.module
            if self.cls.container in ("named", "sequential") and self.func_name == "__init__":
                # a Sequential subclass filling itself (timm's ConvNorm: add_module("c", conv),
                # add_module("bn", bn)): its layers in order tell the layouts it takes and returns
                self.cls.elements = tuple(self.cls.elements) + (
                    vt.module if vt.kind == L.MODULE and vt.module is not None else UNKNOWN_MODULE,)
            if self.cls.container == "dict":
                return self.set(expr(f"self.__setitem__({code(name)}, {code(value)})"), L.OTHER_TAG)
            if self.cls.container == "named":
                return self.set(call, L.OTHER_TAG)  # NamedSequential.add_module keeps the order
            if self.cls.container == "sequential":
                return self.set(expr(f"self.layers.append({code(value)})"), L.OTHER_TAG)
            if vt.kind == L.MODULE and module_api.may_be_function(vt.module):
                # a stateless layer kept as a function: recorded as a child for the Module API
                return self.set(expr(f"{self.build_ctx.helper('module_add_module')}(self, {code(name)}, "
                                     f"{code(value)})"), L.OTHER_TAG)
            return self.set(expr(f"setattr(self, {code(name)}, {code(value)})"), L.OTHER_TAG)
        rt = self.tag(recv)
        if rt.kind == L.MODULE and rt.module is not None and rt.module.kind in ("sequential", "list"):
            if vt.kind == L.MODULE and vt.module is not None:
                rt.module.elements = tuple(rt.module.elements) + (vt.module,)
        new = module_api.method_call(self, original, call)
        return new if new is not None else self.set(call, L.OTHER_TAG)

    def container_add(self, func: cst.Attribute, call: cst.Call):
        """``layers.append(nn.Conv2d(...))`` / ``features.append(x)``: what the
        container holds (for layouts of loops and Sequential(*layers))."""
        rt = self.tag(func.value)
        vt = self.tag(call.args[-1].value)
        if func.attr.value == "extend" and vt.kind == L.MODULE and vt.module is not None \
                and vt.module.kind == "list" and len(vt.module.elements) > 1:
            # layers.extend([a, b]): each layer in turn
            for e in vt.module.elements:
                one = cst.Call(func=func, args=[cst.Arg(value=cst.Name("_"))])
                self.set(one.args[-1].value, Tag(L.MODULE, module=e))
                self.container_add(func, one)
                if isinstance(func.value, cst.Name) and func.value.value in self.env:
                    self.set(func.value, self.env[func.value.value])  # what the list holds now
            return self.set(call, L.OTHER_TAG)
        if func.attr.value == "extend":
            vt = L.element(vt) if vt.kind == L.SEQ else (
                Tag(L.MODULE, module=vt.module.elements[0]) if vt.kind == L.MODULE and vt.module
                and vt.module.kind == "list" and vt.module.elements else vt)
        if rt.kind == L.MODULE and rt.module is not None and rt.module.kind in ("list", "sequential"):
            if vt.kind == L.MODULE and vt.module is not None:
                rt.module.elements = tuple(rt.module.elements) + (vt.module,)
            return self.set(call, L.OTHER_TAG)
        if rt.kind == L.SEQ and rt.param and vt.kind == L.TENSOR and isinstance(func.value, cst.Name):
            # a list built from a parameter, extended with our tensors: one layout for all
            self.env[func.value.value] = self.decide(Tag(L.FREE, param=rt.param), vt).with_(kind=L.SEQ)
            return self.set(call, L.OTHER_TAG)
        if rt.kind == L.SEQ and isinstance(func.value, cst.Name):
            name = func.value.value
            if vt.kind == L.MODULE:
                self.env[name] = Tag(L.MODULE, module=ModuleRef("list", elements=(vt.module,)))
            elif rt.perm is None and rt.module is None and vt.kind == L.TENSOR:
                self.env[name] = vt.with_(kind=L.SEQ, module=None)  # the first item decides
            elif vt.kind == L.TENSOR and vt.perm != rt.perm:
                self.env[name] = L.UNKNOWN_TAG
            return self.set(call, L.OTHER_TAG)
        return None

    def adapt_kwargs(self, original, updated, rule: Rule):
        """``nn.Conv2d(i, o, bias=False, **kwargs)``: the keyword arguments are
        only known at run time, so a helper translates them there."""
        ctor, adapter, n, positional = rule.kwargs_adapter
        # positional arguments past the constructor's own go to the helper by
        # the row's parameter names (nn.Conv2d(i, o, k, stride=s, **kwargs))
        names = [name for name, _, kind in parse_params(rule.params) if kind == "pos"]
        pos, named, star, index = [], [], [], 0
        for a in updated.args:
            if a.star == "**":
                star.append(f"**{code(a.value)}")
            elif a.star or (a.keyword is None and index >= len(names)):
                self.todo(original, "T2N002", f"{rule.name}: these arguments with **kwargs")
                return self.set(updated, L.UNKNOWN_TAG)
            elif a.keyword is None and index >= len(positional):
                named.append(f"{names[index]!r}: {code(a.value)}")
                index += 1
            elif a.keyword is None:
                pos.append(code(a.value))
                index += 1
            elif a.keyword.value in positional:
                pos.insert(positional.index(a.keyword.value), code(a.value))
            else:
                named.append(f"{a.keyword.value!r}: {code(a.value)}")
        merged = "{" + ", ".join(named + star) + "}"
        self.f.helpers.add(adapter)
        self.record_weights(rule, ctor + "(")
        src = f"{ctor}({', '.join(pos)}, **{adapter}({merged}, {n}), rngs={self.build_ctx.rngs})"
        ref = ModuleRef("layer", rule=rule)
        return self.set(expr(src), Tag(L.MODULE, module=ref))

    def splat_is_inert(self, call: cst.Call, rule) -> bool:
        """A ``**kwargs`` splat that can only name parameters without an
        effect in NNX (``inplace``): the arguments bound without it leave no
        other parameter it could fill."""
        spec = parse_params(rule.params)
        named = [n for n, _, k in spec if k in ("pos", "kwonly")]
        positional = [n for n, _, k in spec if k == "pos"]
        if any(k == "varkw" for _, _, k in spec) or any(a.star == "*" for a in call.args):
            return False
        bound = set(positional[:sum(1 for a in call.args if not a.star and a.keyword is None)])
        bound |= {a.keyword.value for a in call.args if a.keyword is not None}
        return all(n in bound or n in INERT_PARAMS for n in named)

    def call_args(self, call: cst.Call):
        """The arguments' sources (each safe as an operand, see operands.py), by position and keyword."""
        pos, kw, nodes = [], {}, []
        self._operand_parens = set()
        for a in call.args:
            if a.star == "*":
                # *layers: kept as one starred source for rows that take varargs
                pos.append("*" + operand(a.value, self._operand_parens))
                nodes.append(a.value)
                continue
            if a.star == "**":
                return None, None, None
            if a.keyword is not None:
                kw[a.keyword.value] = operand(a.value, self._operand_parens)
            else:
                pos.append(operand(a.value, self._operand_parens))
            nodes.append(a.value)
        return pos, kw, nodes

    def add_rngs(self, call: cst.Call, value: str = "rngs") -> cst.Call:
        if any(a.keyword is not None and a.keyword.value == "rngs" for a in call.args):
            return call
        args = list(call.args)
        if args:
            args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        args.append(cst.Arg(keyword=cst.Name("rngs"), value=cst.parse_expression(value),
                            equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                  whitespace_after=cst.SimpleWhitespace(""))))
        return call.with_changes(args=args)

    def construct_class(self, updated, name):
        info = self.f.classes[name]
        factory_args.note(self, name, updated)  # the layer classes it hands factory parameters
        if not (info.needs_rngs or info.uses_rngs) and not self.build_ctx.rngs_available:
            # a class creating no parameters, built where there are no rngs (a registry at import time)
            return self.set(updated, Tag(L.MODULE, module=ModuleRef("class", cls=name)))
        return self.set(self.add_rngs(updated), Tag(L.MODULE, module=ModuleRef("class", cls=name)))

    def call_self_method(self, original, updated, mname):
        cls = self.cls
        seen = set()
        while cls is not None and cls.name not in seen:
            seen.add(cls.name)
            if mname in cls.methods:
                s = cls.methods[mname]
                if s is None:  # a layer-building method: what it returned last round
                    ret = self.f.builder_returns.get((cls.name, mname))
                    # ours, or the module's own where there are none (called from forward)
                    rngs = self.rngs_here(original, mname)
                    return self.set(self.add_rngs(updated, rngs) if rngs else updated, ret if ret is not None else
                                    Tag(L.MODULE, module=UNKNOWN_MODULE))
                return self.call_summary(updated, s, skip_self=True, owner=cls.name, fname=mname,
                                         in_place=id(original) in self.statement_calls)
            cls = next((self.f.classes[b] for b in cls.bases if b in self.f.classes), None)
        if mname in ("forward",):
            updated = updated.with_changes(func=cst.Name("self"))
            if self._has_call():
                return self.call_self_method(original, updated, "__call__")
            return self.set(updated, L.UNKNOWN_TAG)
        new = module_api.method_call(self, original, updated, self_receiver=True)
        if new is not None:  # torch's Module API (self.apply, self.named_modules(), ...): runtime helpers
            return new
        info = self.lookup_attr(mname)
        if info is None or (isinstance(info, Tag) and info.kind == L.UNKNOWN):
            # an attribute holding a module handed to the constructor: under the
            # contract it takes and returns channels-last, so layouts pass through
            return self.call_module(original, updated, UNKNOWN_MODULE)
        return self.set(updated, L.UNKNOWN_TAG)

    def _has_call(self) -> bool:
        """The class (or a translated base) defines forward, i.e. has a __call__ summary."""
        cls, seen = self.cls, set()
        while cls is not None and cls.name not in seen:
            seen.add(cls.name)
            if cls.methods.get("__call__") is not None:
                return True
            cls = next((self.f.classes[b] for b in cls.bases if b in self.f.classes), None)
        return False

    def call_summary(self, updated, s: Summary, skip_self=False, owner=None, fname=None, in_place=True) -> cst.Call:
        params = s.params[1:] if (skip_self and s.params and s.params[0] == "self") else list(s.params)
        args = list(updated.args)
        bound: dict[str, Tag] = {}
        given: dict[str, Tag] = {}  # the arguments' tags as handed (returned_origins.py)
        for i, a in enumerate(args):
            if a.star:
                continue
            pname = a.keyword.value if a.keyword is not None else (params[i] if i < len(params) else None)
            if pname is None:
                continue
            want = s.takes.get(pname)
            t = given[pname] = self.tag(a.value)
            if self.is_moved_weight(t):
                args[i] = self.hand_on_weight(a, t, in_place)
                bound[pname] = t if in_place else L.plain()
                continue
            if flag_splits.is_split(t):
                value, t, as_is = flag_splits.through_summary(
                    self, a.value, t, want, lambda alt: fname is not None and self.f.record_call(owner, fname, pname, alt))
                args[i] = a = a.with_changes(value=value)
                if as_is:
                    bound[pname] = t
                    continue
            value, t = held_permutations.to_undecided(self, a.value, t, want)
            if value is not a.value:
                args[i] = a = a.with_changes(value=value)
            if fname is not None and t.kind in (L.TENSOR, L.SEQ):
                self.f.record_call(owner, fname, pname, t)
            if want is not None and want.kind == L.TENSOR and t.is_tensor:
                if want.channels_last:
                    if t.kind == L.FREE:
                        t = self.decide(t, want)
                    elif not t.channels_last:
                        self.ask_image(t, want)
                        args[i] = a.with_changes(value=self.to_layout(a.value, t, want))
                        t = want
                else:
                    args[i] = a.with_changes(value=self.canonical(a.value))
                    t = L.plain()
            bound[pname] = t
        ret = s.returns or L.UNKNOWN_TAG
        if ret.kind == L.FREE:
            ret = bound.get(ret.param, L.UNKNOWN_TAG)
        ret = returned_origins.through_call(self, s, ret, given)
        return self.set(updated.with_changes(args=args), ret)

    def call_module(self, original, updated, m: Optional[ModuleRef]):
        """``self.layer(x)``: the layer's layout behaviour applies to ``x``."""
        m = flag_classes.narrow(self, updated.func, m) or UNKNOWN_MODULE
        if not updated.args:
            return self.set(updated, L.UNKNOWN_TAG)
        if m.kind == "unknown":
            updated = updated.with_changes(args=held_permutations.in_torch_order(self, updated.args))
        first = updated.args[0]
        t = self.tag(first.value)
        if flag_splits.is_split(t) and not first.keyword and not first.star:
            if m.kind == "union":
                dispatched = flag_splits.through_union(self, updated, t, m)
                if dispatched is not None:
                    return dispatched
            new_first, t, as_is = flag_splits.through(self, first.value, t, m)
            first = first.with_changes(value=new_first)
            updated = updated.with_changes(args=[first] + list(updated.args[1:]))
            if as_is:
                return self.set(later_args(self, updated, m), t)
        if _mixed_ranks(m) and not (t.kind == L.TENSOR and t.perm is not None) and not first.keyword \
                and not first.star:
            # one of conv1d/2d/3d chosen at run time (conv_nd(n)), the input's rank unknown: every
            # one takes channels last, whatever the rank; torch's order around it
            x = code(self.canonical(first.value))
            self.transposes += 2
            inner = updated.with_changes(args=[first.with_changes(value=expr(f"jnp.moveaxis({x}, 1, -1)"))]
                                         + list(updated.args[1:]))
            return self.set(expr(f"jnp.moveaxis({code(inner)}, -1, 1)"), L.UNKNOWN_TAG)
        if reshape_choice.applies(m, t, updated):
            return reshape_choice.call(self, updated, t)
        if m.kind == "union" and t.kind == L.FREE:
            t = union_dispatch.undecided_input(self, m, t)
        if union_dispatch.applies(self, m, t, updated):
            return union_dispatch.call(self, updated, t, m)
        if torch_order_layers.applies(m, t, updated):
            return torch_order_layers.call(self, updated, t)
        new_first, out = self.through_module(first.value, t, m)
        args = [first.with_changes(value=new_first)] + list(updated.args[1:])
        return self.set(later_args(self, updated.with_changes(args=args), m), out)

    def through_module(self, node, t: Tag, m: ModuleRef):
        """Layout effect of applying module ``m`` to a value tagged ``t``."""
        if m.kind == "layer" and m.rule is not None:
            if m.rule.image_rank and t.kind == L.TENSOR and not t.channels_last:
                return self._channel_layer_in_torch_order(node, t, m.rule.image_rank)
            return self.apply_layout_unary(node, t, m.layout or m.rule.layout)
        if m.kind == "class":
            info = self.f.classes.get(m.cls)
            # a class of another file of the run: the layouts it was translated with
            s = info.methods.get("__call__") if info else self.f.external_summaries.get(m.cls)
            if s is None and info is not None and info.elements:
                # a Sequential subclass: its layers in order
                takes, returns = self._fold_refs(list(info.elements))
                return self.through_module(node, t, ModuleRef("sequential", elements=info.elements,
                                                              takes=takes, returns=returns))
            if s is None:
                return node, t
            if (row := row_forward.row_at_other_rank(s, t)) is not None:
                # a subclass running the layer's own forward, at another rank: the layer's call
                return self.through_module(node, t, ModuleRef("layer", rule=row))
            params = [p for p in s.params if p != "self"]
            want = s.takes.get(params[0]) if params else None
            if params:
                node, t = held_permutations.to_undecided(self, node, t, want)
            if params and t.kind in (L.TENSOR, L.SEQ):
                self.f.record_call(m.cls, "__call__", params[0], t)
            if want is not None and want.kind == L.TENSOR and t.is_tensor:
                if want.channels_last:
                    if t.kind == L.FREE:
                        t = self.decide(t, want)
                    elif not t.channels_last:
                        self.ask_image(t, want)
                        node = self.to_layout(node, t, want)
                        t = want
                else:
                    node = self.canonical(node)
                    t = L.plain()
            ret = s.returns or L.UNKNOWN_TAG
            if ret.kind == L.FREE:
                ret = t if params and ret.param == params[0] else L.UNKNOWN_TAG
            return node, ret
        if m.kind == "sequential":
            want, ret = m.takes, m.returns
            if want is None and ret is None and m.elements:
                # filled after it was made (stem.add_module("conv", ...)): its layers tell
                want, ret = self._fold_refs(list(m.elements))
            if t.kind == L.FREE and want is not None and want.channels_last:
                t = self.decide(t, want)
            self._record_through(t, m.elements)
            if want is not None and t.is_tensor:
                if want.channels_last:
                    if t.kind == L.FREE:
                        t = self.decide(t, want)
                    elif not (t.channels_last and t.perm == want.perm):
                        node = self.to_layout(node, t if t.kind == L.TENSOR else L.plain(len(want.perm)), want)
                        t = want
                else:
                    node = self.canonical(node)
                    t = L.plain()
            return node, (ret if ret is not None else t)
        if m.kind == "union" and either_layout(m):
            return self._through_either(node, t, m)
        if m.kind == "union" and spatial_union(m) is not None:
            return self._through_spatial_union(node, t, m, spatial_union(m))
        if m.kind in ("union", "list") and m.elements:
            elements = m.elements
            rank = len(t.perm) if t.kind in (L.TENSOR, L.FREE) and t.perm is not None else None
            if m.kind == "union" and rank is not None:
                # one of several layer classes (`conv_nd(n)(...)`): those taking a tensor of this rank
                fit = tuple(e for e in elements if not (e.kind == "layer" and e.rule is not None
                                                        and (e.layout or e.rule.layout).rank not in (None, rank)))
                elements = fit or elements
            if m.kind == "union" and len({(e.layout or e.rule.layout).rank for e in elements
                                          if e.kind == "layer" and e.rule is not None} - {None}) > 1:
                return node, t  # layers of different ranks, the input's unknown: as an unknown module
            # a loop over a ModuleList: fold twice to let the layout settle
            outs = []
            t0 = t
            for e in elements:
                n2, o = self.through_module(node, t, e)
                node = n2
                outs.append(o)
                if o.kind == L.TENSOR:
                    t = o  # what the next element is handed: one transpose, not one per element
                    if m.kind == "union":
                        # ... but a union's layers each take the input, not the one before's
                        # output: a global pool's size-1 dims are not the Identity's beside it
                        t = o.with_(one=o.one and t0.one)
            res = outs[0]
            for o in outs[1:]:
                res = L.join(res, o)
            return node, res
        # unknown module: under the contract every translated module takes and
        # returns channels-last where torch uses channels-first, so pass through
        return node, t

    def _channel_layer_in_torch_order(self, node, t: Tag, image_rank: int):
        """A channel layer NNX normalises over the last axis (GroupNorm) handed a
        tensor in torch's order: one of rank 3 or more has its channels on axis 1,
        so it goes in channels-last (before, it went in as it was and the layer
        read its last spatial axis as channels). Of unknown rank (a Linear's output
        may be (N, C)) it goes in as it is; a parameter in torch order only because
        some caller handed it so is then an image batch, taken channels-last from
        the next round on (``ask_image``)."""
        rank = L.rank_of(t)
        if rank is None:
            self.ask_image(t, L.channels_last(image_rank))
            return node, t
        if rank < 3:
            return node, t
        want = L.channels_last(rank)
        self.ask_image(t, want)
        return self.to_layout(node, t, want), want

    def _through_spatial_union(self, node, t: Tag, m: ModuleRef, lay):
        """A conv layer or one of several translated conv classes (layer_choice.spatial_union):
        the input goes in channels-last, as the layer takes it; each class is told
        its callers hand it channels-last (a hint: translated to take that)."""
        node, out = self.apply_layout_unary(node, t, lay)
        want = L.channels_last(lay.rank)
        for e in m.elements:
            if e.kind != "class":
                continue
            info = self.f.classes.get(e.cls)
            s = info.methods.get("__call__") if info else self.f.external_summaries.get(e.cls)
            params = [p for p in (s.params if s is not None else []) if p != "self"]
            if params:
                self.f.record_call(e.cls, "__call__", params[0], want)
        return node, out

    def _through_either(self, node, t: Tag, m: ModuleRef):
        """A layer chosen at run time between a channels-last one and a plain one
        (``partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear``): each
        caller hands the tensor the chosen layer takes (an image to the conv, a
        token tensor to the Linear), so the value passes as it is; an undecided
        parameter stays undecided (the function returns what it was handed)."""
        if t.kind == L.FREE:
            return node, t
        spatial = next(e for e in m.elements if stance(e) == "spatial")
        if t.channels_last:
            return self.through_module(node, t, spatial)
        return node, L.plain(t.rank if t.kind == L.TENSOR else None)

    def apply_layout_unary(self, node, t: Tag, lay):
        kind = lay.kind
        if kind == "elementwise":
            return node, t
        if kind == "spatial":
            want = L.channels_last(lay.rank)
            out = want.with_(one=lay.out_one)
            if t.kind == L.FREE:
                self.decide(t, want)
                return node, out
            if t.channels_last and len(t.perm) == lay.rank and t.perm == want.perm:
                return node, out
            if t.kind in (L.TENSOR, L.UNKNOWN):
                if t.origin is not None and self.func_name != "__init__":
                    # padded (or the like) in torch order only because undecided when
                    # met: the parameter is taken channels-last from the next round on
                    # (kept with the return layouts: decided once, used by later rounds)
                    self.f.return_layouts.setdefault(self.return_key + ("param", t.origin), want)
                node = self.to_layout(node, t if t.kind == L.TENSOR else L.plain(lay.rank), want)
            return node, out
        if kind == "spatial_any":
            # rank-generic spatial ops (Upsample): channels-last of any rank; an
            # undecided input is taken as an image batch (N, C, H, W)
            if t.channels_last:
                return node, t.with_(one=False)
            if t.kind == L.FREE:
                return node, self.decide(t, L.channels_last(4))
            rank = t.rank or 4
            if t.kind in (L.TENSOR, L.UNKNOWN) and t.origin is not None and self.func_name != "__init__":
                # as for "spatial": in torch order only because undecided when met
                self.f.return_layouts.setdefault(self.return_key + ("param", t.origin), L.channels_last(rank))
            node = self.to_layout(node, L.plain(rank), L.channels_last(rank))
            return node, L.channels_last(rank)
        if kind == "channel":
            if t.kind == L.FREE:
                return node, t
            return node, t
        if kind in ("plain", "reshape"):
            if kind == "reshape" and t.channels_last and t.one:
                return node, L.plain()
            if kind == "plain" and t.or_flat and t.perm is not None:
                # a Linear on a map maybe flattened already (reshape_choice): its result
                # is too, in torch's order
                return self.canonical(node), L.plain(len(t.perm)).with_(or_flat=True)
            return self.canonical(node), L.plain()
        if kind == "permute" and lay.dims:
            # a permuting layer (torchvision's Permute) moves data: torch order in, torch order out
            return self.canonical(node), L.plain(len(lay.dims))
        return node, L.UNKNOWN_TAG

    # --------------------------------------------------------- rule application
    def apply_rule(self, original, rule: Rule, pos: list[str], kw: dict[str, str], nodes):
        lay = rule.layout
        try:
            args = bind(rule.params, pos, kw)
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name}: {e.message}")
            return self.set(original, L.UNKNOWN_TAG)
        if rule.layout_of is not None and not rule.layer:
            lay = rule.layout_of(args) or lay
        # map parameter name -> CST node (for tags)
        name_nodes = self._name_nodes(rule, pos, kw, nodes)
        if not rule.layer:
            self._runtime_weights_in_torch_order(rule, args, name_nodes)
        put_back = channel_unsqueeze.apply(self, rule, args, name_nodes)
        if put_back is not None:
            return put_back
        result = L.plain()
        try:
            if lay.kind in ("elementwise", "spatial", "spatial_any", "channel", "plain", "reshape") and not rule.layer:
                tensor_names = [n for n in lay.tensors if n in name_nodes]
                if tensor_names:
                    first = tensor_names[0]
                    node = name_nodes[first]
                    t = self.tag(node)
                    if lay.kind == "elementwise" and len(tensor_names) > 1:
                        result = t
                        for other in tensor_names[1:]:
                            on = name_nodes[other]
                            ot = self.tag(on)
                            a_node, b_node, result = self.elementwise(node, on, result, ot)
                            if a_node is not node and _writes_receiver(rule) and first == tensor_names[0] \
                                    and t.kind == L.TENSOR and ot.kind == L.TENSOR:
                                # `buf.copy_(v)`, `x.mul_(s)`: the receiver is written, so it
                                # keeps its layout; the operand is brought to it (before, the
                                # receiver was rewritten and the write landed in a temporary)
                                a_node, result = node, t
                                b_node = self.canonical(on) if not t.channels_last else \
                                    self.to_layout(on, ot, t)
                            if a_node is not node:
                                args.given_src[first] = code(a_node)
                            if b_node is not on:
                                args.given_src[other] = code(b_node)
                        if result.channels_last and len(tensor_names) > 2:
                            # `addcmul(a, b, c)` with c alone channels-last: b was only met by
                            # a, every operand meets the joint layout
                            for other in tensor_names[1:-1]:
                                on = name_nodes[other]
                                ot = self.tag(on)
                                if ot.kind == L.TENSOR and not ot.channels_last \
                                        and args.given_src[other] == code(on):
                                    b_node, _, _ = self.elementwise(on, cst.Name("_"), ot, result)
                                    if b_node is not on:
                                        args.given_src[other] = code(b_node)
                    else:
                        new_node, result = self.apply_layout_unary(node, t, lay)
                        if new_node is not node:
                            args.given_src[first] = code(new_node)
                        for other in tensor_names[1:]:
                            on = name_nodes[other]
                            if lay.kind in ("plain", "reshape"):
                                nn_ = self.canonical(on)
                                if nn_ is not on:
                                    args.given_src[other] = code(nn_)
                else:
                    result = L.plain()
                if lay.kind in ("plain", "reshape"):
                    self._canonical_star(rule, args, pos, nodes)
            elif rule.layer:
                pass  # a layer's layout applies where it is called
            elif lay.kind == "dims":
                result = self.remap_dims(original, rule, args, name_nodes)
            elif lay.kind == "permute":
                result = self.permute(rule, args, name_nodes)
                if result is None:
                    src = args.given_src[lay.tensors[0]]
                    return self.set(self.built(src), self._permute_tag)
            elif lay.kind == "stack":
                result = self.stack(rule, args, name_nodes)
            elif lay.kind == "aware":
                return self.aware(original, rule, args, name_nodes)
            elif lay.kind == "view":
                return self.view(original, rule, args, name_nodes, nodes, pos)
            elif lay.kind == "shape":
                node = name_nodes.get(lay.tensors[0])
                bt = self.tag(node) if node is not None else L.UNKNOWN_TAG
                result = Tag(L.SHAPE, perm=bt.perm if bt.kind == L.TENSOR else None,
                             param=bt.param if bt.kind == L.FREE else None,
                             roles=bt.roles if bt.kind == L.TENSOR else None)
            elif lay.kind == "source":
                data = name_nodes.get(lay.tensors[0]) if lay.tensors else None
                rank = self.tag(data).rank if data is not None and self.tag(data).kind == L.TENSOR else None
                result = L.plain(_source_rank(args) or rank)  # nn.Parameter(data): data's rank
            elif lay.kind == "other":
                result = L.OTHER_TAG
            src = rule.build(args, self.build_ctx)
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name}: {e.message}")
            return self.set(original, L.UNKNOWN_TAG)
        new = self.built(src)
        for h in rule.helpers:
            self.f.helpers.add(h)
        if rule.layer:
            self.record_weights(rule, src)
            ref = ModuleRef("layer", rule=rule, layout=rule.layout_of(args) if rule.layout_of else None)
            if rule.name in ("torch.nn.Sequential",):
                new, ref = self.sequential(original, new, nodes)
            elif rule.name in ("torch.nn.ModuleList",):
                elems = ()
                if nodes:
                    t0 = self.tag(nodes[0])
                    if t0.kind == L.MODULE and t0.module is not None:
                        elems = t0.module.elements if t0.module.kind == "list" else (t0.module,)
                ref = ModuleRef("list", elements=elems)
            elif rule.name in ("torch.nn.ModuleDict",):
                ref = ModuleRef("dict", elements=self._dict_members(nodes[0]) if nodes else ())
            return self.set(new, Tag(L.MODULE, module=ref))
        if rule.returns_tuple and result.kind == L.TENSOR:
            result = result.with_(kind=L.SEQ)
        return self.set(new, result)

    def built(self, src: str) -> cst.BaseExpression:
        """A build's source as the node standing where the call stood (operands.py)."""
        new = guarded_result(tidy(expr(src), self._operand_parens))
        self._operand_parens = set()
        return new

    # ------------------------------------------------------------ containers
    def _dict_members(self, node):
        """``nn.ModuleDict(dict(wte=..., h=...))`` / ``({"a": ...})``: (name, module)
        pairs, so ``self.transformer.wpe.weight`` knows its layer (nanoGPT)."""
        pairs = []
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "dict":
            items = [(a.keyword.value, a.value) for a in node.args if a.keyword is not None]
        elif isinstance(node, cst.Dict):
            items = [(e.key.evaluated_value, e.value) for e in node.elements
                     if isinstance(e, cst.DictElement) and isinstance(e.key, cst.SimpleString)]
        else:
            return ()
        for name, value in items:
            t = self.tag(value)
            if t.kind == L.MODULE and t.module is not None:
                pairs.append((name, t.module))
        return tuple(pairs)

    def sequential(self, original, new, nodes):
        """Fold the layouts of a Sequential's layers at construction.

        The container's call site only sees what the first layer takes and the
        last returns; a transpose needed between two layers is put on a
        stateless layer (wrapped in a lambda) so that indices do not move.
        """
        refs = [self.tag(n).module if self.tag(n).kind == L.MODULE else None for n in nodes]
        if len(refs) == 1 and refs[0] is not None and refs[0].kind == "odict":
            elems = tuple(refs[0].elements)  # nn.Sequential(layers), layers filled item by item
            takes, returns = self._fold_refs(list(elems), original)
            return new, ModuleRef("sequential", elements=elems, takes=takes, returns=returns,
                                  names=refs[0].names)
        named = _ordered_dict_items(nodes)
        if named is not None:
            elems = tuple(self.tag(v).module if self.tag(v).kind == L.MODULE else UNKNOWN_MODULE for v in named)
            takes, returns = self._fold_refs(list(elems), original)
            return new, ModuleRef("sequential", elements=elems, takes=takes, returns=returns, named=True,
                                  names=named_members.ordered_dict_names(nodes))
        if not isinstance(new, cst.Call) or len(new.args) != len(nodes) or any(a.star for a in new.args):
            # Sequential(*layers): the layers appended to the list, in order
            elems = ()
            if len(refs) == 1 and refs[0] is not None and refs[0].kind == "list":
                elems = refs[0].elements
            if elems:
                takes, returns = self._fold_refs(list(elems), original)
                return new, ModuleRef("sequential", elements=tuple(elems), takes=takes, returns=returns)
            return new, ModuleRef("sequential", elements=tuple(r or UNKNOWN_MODULE for r in refs))
        t = Tag(L.FREE, param="<sequential>")
        takes = None
        args = list(new.args)

        def stateless(r):
            return r is not None and r.kind == "layer" and r.rule is not None and not r.rule.stateful

        for i, r in enumerate(refs):
            lay = None
            if r is not None and r.kind == "layer" and r.rule is not None:
                lay = r.layout or r.rule.layout
            if lay is not None and lay.kind == "permute" and lay.dims:
                # Permute([0, 2, 3, 1]) after a channels-last layer: only the tag
                # changes (the layer becomes the identity); otherwise it moves data
                p = tuple(int(d) for d in lay.dims)
                cur = t.perm if t.perm is not None else tuple(range(t.rank)) if t.rank else None
                if t.kind == L.TENSOR and cur is not None and len(cur) == len(p):
                    args[i] = args[i].with_changes(value=expr("lambda x: x"))
                    after = L.after_permute(cur, p)
                    t = L.plain(len(p)) if L.is_identity(after) else Tag(L.TENSOR, perm=after, rank=len(p))
                    continue
                if t.kind == L.FREE:
                    takes = L.plain(len(p)) if takes is None else takes
                elif t.channels_last:
                    axes = L.transpose_axes(t.perm, None, len(t.perm))
                    args[i] = args[i].with_changes(value=expr(
                        f"(lambda x: {code(args[i].value)}(jnp.transpose(x, {axes})))"))
                    self.transposes += 1
                t = L.plain(len(p))
                continue
            in_rank = (len(t.perm) if t.perm is not None else t.rank) if t.kind == L.TENSOR else None
            want = None
            if lay is not None and lay.kind == "spatial":
                want = L.channels_last(lay.rank)
            elif lay is not None and lay.kind in ("plain", "reshape"):
                want = L.plain()
                if lay.kind == "reshape" and t.channels_last and t.one:
                    want = None
            elif r is not None and r.kind in ("sequential", "class"):
                want = r.takes if r.kind == "sequential" else self._class_takes(r)
            if want is not None:
                if t.kind == L.FREE:
                    takes = want if takes is None else takes
                elif want.channels_last and not (t.channels_last and t.perm == want.perm) or \
                        (not want.channels_last and t.channels_last):
                    rank = len(want.perm) if want.perm is not None else len(t.perm)
                    axes = L.transpose_axes(t.perm if t.channels_last else None, want.perm, rank)
                    if stateless(r):
                        args[i] = args[i].with_changes(value=expr(
                            f"(lambda x: {code(args[i].value)}(jnp.transpose(x, {axes})))"))
                        self.transposes += 1
                    elif i > 0 and stateless(refs[i - 1]):
                        args[i - 1] = args[i - 1].with_changes(value=expr(
                            f"(lambda x: jnp.transpose({code(args[i - 1].value)}(x), {axes}))"))
                        self.transposes += 1
                    else:
                        self.todo(original, "T2N004", "a layout change between two stateful layers of a "
                                                      "Sequential; split the Sequential")
                t = want.with_(one=lay.out_one) if lay is not None and lay.kind == "spatial" else want
            if lay is not None and lay.kind in ("plain", "reshape"):
                t = L.plain(in_rank if lay.keeps_rank else None)
            elif r is not None and r.kind == "sequential" and r.returns is not None:
                t = r.returns
            elif r is not None and r.kind == "class":
                ret = self._class_returns(r)
                if ret is not None:
                    t = ret
            elif r is None or r.kind == "unknown":
                pass
        returns = None if t.kind == L.FREE else t
        return new.with_changes(args=args), ModuleRef("sequential", elements=tuple(refs), takes=takes, returns=returns)

    def _record_through(self, t: Tag, refs) -> None:
        """Layouts reaching translated classes inside a container: call sites too."""
        if t.kind != L.TENSOR:
            return
        for r in refs:
            if r is None or t.kind != L.TENSOR:
                return
            if r.kind == "class":
                s = self._class_summary(r)
                params = [p for p in s.params if p != "self"] if s else []
                if params:
                    self.f.record_call(r.cls, "__call__", params[0], t)
                ret = self._class_returns(r)
                t = ret if ret is not None else t
            elif r.kind == "layer" and r.rule is not None:
                lay = r.layout or r.rule.layout
                if lay.kind == "spatial":
                    t = L.channels_last(lay.rank).with_(one=lay.out_one)
                elif lay.kind in ("plain", "reshape"):
                    t = L.plain()
            elif r.kind == "sequential":
                self._record_through(t, r.elements)
                t = r.returns if r.returns is not None else t
            else:
                return

    def _fold_refs(self, refs, original=None):
        """What a chain of layers takes and returns (no rewriting: a layout
        change between two of them is marked on ``original``)."""
        t = Tag(L.FREE, param="<sequential>")
        takes = None
        for r in refs:
            lay = (r.layout or r.rule.layout) if r is not None and r.kind == "layer" and r.rule is not None else None
            want = None
            if lay is not None and lay.kind == "spatial":
                want = L.channels_last(lay.rank)
            elif lay is not None and lay.kind in ("plain", "reshape") and not (lay.kind == "reshape" and t.one):
                want = L.plain()
            elif r is not None and r.kind == "sequential":
                want = r.takes
            elif r is not None and r.kind == "class":
                want = self._class_takes(r)
            if want is not None:
                if t.kind == L.FREE and takes is None:
                    takes = want
                elif original is not None and t.kind == L.TENSOR and want.kind == L.TENSOR \
                        and t.channels_last != want.channels_last and not (t.one and lay is not None
                                                                          and lay.kind == "reshape"):
                    self.todo(original, "T2N004", "layers collected at run time need a layout change between "
                                                  "two of them; build the Sequential from separate parts")
                t = want.with_(one=lay.out_one) if lay is not None and lay.kind == "spatial" else want
            if r is not None and r.kind == "sequential" and r.returns is not None:
                t = r.returns
            elif r is not None and r.kind == "class" and self._class_returns(r) is not None:
                t = self._class_returns(r)
        return takes, (None if t.kind == L.FREE else t)

    def _class_summary(self, r: ModuleRef):
        """The ``__call__`` summary of a class of this file or, as its file exported
        it, of another file of the run (a Sequential folding both kinds of layers)."""
        info = self.f.classes.get(r.cls)
        return info.methods.get("__call__") if info else self.f.external_summaries.get(r.cls)

    def _class_takes(self, r: ModuleRef):
        s = self._class_summary(r)
        if s is None:
            return None
        params = [p for p in s.params if p != "self"]
        return s.takes.get(params[0]) if params else None

    def _class_returns(self, r: ModuleRef):
        s = self._class_summary(r)
        if s is None or s.returns is None or s.returns.kind == L.FREE:
            return None
        return s.returns

    def record_weights(self, rule: Rule, src: str):
        """Note the weight map of the NNX class this construction produced."""
        maps = rule.weights if isinstance(rule.weights, tuple) else ((rule.weights,) if rule.weights else ())
        callee = src.split("(", 1)[0].strip()
        def record(w):
            self.f.weight_maps[w.nnx_class] = w
            for inner in w.requires:  # a composite layer (attention, transformer): its inner layers' maps
                record(inner)

        for w in maps:
            if w.nnx_class == callee or len(maps) == 1:
                record(w)
                return

    def _runtime_weights_in_torch_order(self, rule: Rule, args, name_nodes):
        """A torch parameter read off a layer the analysis could not type
        (``torch_layer_attr``: NNX's kernel, in its own order) handed to an op for its
        value (``w.T``, ``w.shape[0]``, ``F.linear(x, w)``, ``w.sum(1)``) is read in
        torch's order at run time; an op writing into it (``w.normal_()``,
        ``nn.init.zeros_(w)``) gets the Variable itself."""
        writes = rule.name.endswith("_") and not rule.name.endswith("__")
        for i, n in enumerate(rule.layout.tensors):
            node = name_nodes.get(n)
            if node is None or (i == 0 and writes) or not self.is_runtime_weight(self.tag(node)):
                continue
            new = self.canonical(node)
            if new is not node:
                args.given_src[n] = code(new)
                name_nodes[n] = new

    @staticmethod
    def is_runtime_weight(t: Tag) -> bool:
        return t.kind == L.UNKNOWN and t.weight

    def _canonical_star(self, rule: Rule, args, pos, nodes):
        """The tensors a plain row takes through ``*operands`` (``torch.einsum(eq, *operands)``)
        in torch's order, as its named tensors are: the equation names torch's axes."""
        from ..rules.base import parse_params
        spec = parse_params(rule.params)
        varargs = next((n for n, _, k in spec if k == "varargs"), None)
        if varargs is None or varargs not in rule.layout.tensors:
            return
        first = len([n for n, _, k in spec if k == "pos"])
        for i, node in enumerate(nodes[first:len(pos)]):
            if i < len(args.star) and args.star[i] == code(node):
                new = self.canonical(node)
                if new is not node:
                    args.star[i] = code(new)

    def _name_nodes(self, rule: Rule, pos, kw, nodes):
        from ..rules.base import parse_params
        spec = parse_params(rule.params)
        pos_names = [n for n, _, k in spec if k == "pos"]
        out = {}
        i = 0
        for n in nodes[: len(pos)]:
            if i < len(pos_names):
                out[pos_names[i]] = n
            i += 1
        for (k, _), n in zip(kw.items(), nodes[len(pos):]):
            out[k] = n
        return out

    def aware(self, original, rule: Rule, args, name_nodes):
        """Rows that rewrite themselves for the input's layout (F.pad ...)."""
        tname = rule.layout.tensors[0]
        node = name_nodes.get(tname)
        t = self.tag(node) if node is not None else L.plain()
        origin = None
        if t.kind == L.FREE:
            row = self.cls.row if self.cls is not None else None
            origin = t.param if t.param not in self.decided else None
            if row is not None and row.layout.kind == "spatial" and row.layout.rank:
                # in a subclass of a spatial layer (timm's BatchNormAct2d calling F.batch_norm),
                # an undecided input takes the layer's layout
                t = self.decide(t, L.channels_last(row.layout.rank))
            elif row is not None and row.layout.kind == "channel" and self.func_name == "forward":
                # a subclass of a channel layer (GroupNorm): its callers hand it channels-last
                # (the row's summary), of a rank the row does not fix
                self.build_ctx.channels_last_any = True
            else:
                # torch's order, provisionally: a spatial layer later makes it channels-last
                t = self.decide(t, L.plain().with_(origin=origin))
        elif t.kind == L.TENSOR and not t.channels_last and t.origin is not None:
            # already read in torch order provisionally (`ih, iw = x.shape[-2:]` before
            # `F.pad(x, ...)`): the result keeps the parameter as its origin
            origin = t.origin
        self.build_ctx.perm = t.perm if t.channels_last else None
        self.build_ctx.result_plain = False
        self.build_ctx.result_cl_rank = None
        self.build_ctx.one = t.channels_last and t.one
        try:
            try:
                src = rule.build(args, self.build_ctx)
                result = t if t.channels_last and not self.build_ctx.result_plain else L.plain()
                if origin is not None and not t.channels_last and not self.build_ctx.result_plain:
                    result = result.with_(origin=origin)
                if self.build_ctx.result_cl_rank:
                    result = L.channels_last(self.build_ctx.result_cl_rank)
            except Canonical:
                new_node = self.canonical(node, f"{rule.name} needs torch order here")
                args.given_src[tname] = code(new_node)
                self.build_ctx.perm = None
                src = rule.build(args, self.build_ctx)
                result = L.plain()
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name}: {e.message}")
            return self.set(original, L.UNKNOWN_TAG)
        finally:
            self.build_ctx.perm = None
            self.build_ctx.channels_last_any = False
        for h in rule.helpers:
            self.f.helpers.add(h)
        return self.set(self.built(src), result)

    def permute(self, rule: Rule, args, name_nodes):
        """permute/transpose: a channels-last input often needs no data movement."""
        lay = rule.layout
        tname = lay.tensors[0]
        node = name_nodes[tname]
        t = self.tag(node)
        image = image_batches.by_permute(image_batches.permute_dims(rule, args))
        if t.kind == L.FREE:
            t = self.decide(t, image or L.plain())
        elif image is not None:
            self.ask_image(t, image)
        if lay.swap and not lay.dims:
            # `w.t()`, `w.T`: every dim reversed (a 2-D swap, 0-D and 1-D unchanged); on a
            # tensor held in another order (a Linear's kernel read as torch's weight) only
            # the tag changes
            rank = len(t.perm) if t.perm is not None else (t.rank or None)
            if rank is None or t.kind != L.TENSOR:
                node = self.canonical(node)
                args.given_src[tname] = code(node)
                return L.plain()
            p = list(range(rank))[::-1]
        elif lay.swap:
            d0, d1 = args.lit(lay.dims[0]), args.lit(lay.dims[1])
            if not (isinstance(d0, int) and isinstance(d1, int)):
                node = self.canonical(node)
                args.given_src[tname] = code(node)
                return L.plain()
            rank = len(t.perm) if t.perm is not None else (t.rank or None)
            if rank is None:
                return L.plain()
            d0, d1 = d0 % rank, d1 % rank
            p = list(range(rank))
            p[d0], p[d1] = p[d1], p[d0]
        else:
            vals = [args.lit(n) for n in lay.dims if args.given(n)] if lay.dims else []
            if len(vals) == 1 and isinstance(vals[0], (tuple, list)):
                vals = list(vals[0])
            if len(args.star) == 1:
                vals = args.lit_star(0)
            elif args.star:
                vals = [args.lit_src(s) for s in args.star]
            if not isinstance(vals, (list, tuple)) or not all(isinstance(v, int) for v in vals):
                node = self.canonical(node)
                args.given_src[tname] = code(node)
                return L.plain()
            rank = len(vals)
            p = [v % rank for v in vals]
        if t.kind != L.TENSOR or (t.perm is not None and len(t.perm) != rank):
            return L.plain(rank)
        # the data stays where it is: only the tag changes. Consumers that need
        # torch order transpose (once) where they need it.
        perm = t.perm if t.perm is not None else tuple(range(rank))
        newperm = L.after_permute(perm, tuple(p))
        roles = tuple(t.roles[a] for a in p) if t.roles is not None else None
        self._permute_tag = L.plain(rank) if L.is_identity(newperm) else \
            Tag(L.TENSOR, perm=newperm, rank=rank, roles=roles, one=t.one)
        return None

    def view(self, original, rule: Rule, args, name_nodes, nodes, pos):
        """view/reshape. On a channels-last tensor, a reshape that keeps the batch
        and spatial dims and only splits or merges the channel dims (ShuffleNet's
        channel shuffle, grouped heads) runs on the channels-last data directly;
        a reshape from (N, C) to (N, C, 1, 1) comes out channels-last for free."""
        tname = rule.layout.tensors[0]
        node = name_nodes[tname]
        t = self.tag(node)
        if t.kind == L.FREE:
            t = self.decide(t, L.plain())
        # the target shape, one source and node per dim when they are spelled out
        dims = target_dims(list(zip(pos[1:], nodes[1:len(pos)])) if rule.name.startswith("Tensor.") else [],
                           name_nodes.get("shape"))
        # a channels-last tensor's shape handed whole (x.view(y.shape)): torch's sizes
        if rule.name.startswith("Tensor."):
            for i, (s_src, s_node) in enumerate(zip(pos[1:], nodes[1:len(pos)])):
                fixed = shape_values.torch_order_source(self, s_node, s_src)
                if fixed is not None and i < len(args.star) and args.star[i] == s_src:
                    args.star[i] = fixed
        elif args.given("shape"):
            fixed = shape_values.torch_order_source(self, name_nodes.get("shape"), args.given_src["shape"])
            if fixed is not None:
                args.given_src["shape"] = fixed
        k = target_rank(dims)
        if k == 1 and not isinstance(dims[0][0], (cst.Integer, cst.UnaryOperation)):
            # `x.view(shape)`, `w.view(self.shape)`: a tuple of sizes as likely as one
            # size, of a rank known at run time
            k = None
        # the sizes one by one, when no starred sizes hide how many there are
        dims_nodes = [n for n, _ in dims] if k is not None else []
        dims_src = [code(n) for n in dims_nodes]
        x = code(node)

        def lit(n):
            try:
                return ast.literal_eval(code(n))
            except (ValueError, SyntaxError):
                return None

        try:
            if not t.channels_last:
                if t.kind == L.TENSOR and k is not None and k >= 3 and all(lit(n) == 1 for n in dims_nodes[2:]):
                    # (N, C) -> (N, C, 1, 1): the same bytes as (N, 1, 1, C)
                    src = f"{x}.reshape({', '.join([dims_src[0]] + ['1'] * (k - 2) + [dims_src[1]])})"
                    return self.set(self.built(src), L.channels_last(k, one=True))
                return self.set(self.built(rule.build(args, self.build_ctx)), L.plain(k or None))
            if t.one and (t.roles is None or t.roles == L.spatial_roles(len(t.perm))):
                # spatial dims of size 1: channels-last bytes are in torch order already
                return self.set(self.built(rule.build(args, self.build_ctx)), L.plain(k or None))
            if t.roles is not None and k:
                out = self._channel_reshape(node, t, dims_nodes, dims_src)
                if out is not None:
                    return out
            new_node = self.canonical(node)
            args.given_src[tname] = code(new_node)
            return self.set(self.built(rule.build(args, self.build_ctx)), L.plain(k or None))
        except Unsupported as e:
            self.todo(original, e.code, f"{rule.name}: {e.message}")
            return self.set(original, L.UNKNOWN_TAG)

    def _channel_reshape(self, node, t: Tag, dims_nodes, dims_src):
        roles, perm = t.roles, t.perm
        r, k = len(perm), len(dims_nodes)
        n_axes = [i for i in range(r) if roles[i] == "N"]
        s_axes = sorted((i for i in range(r) if roles[i].startswith("S")), key=lambda i: roles[i])
        m = len(s_axes)
        droles = []
        for n in dims_nodes:
            dt = self.tag(n)
            droles.append(dt.roles[0] if dt.kind == L.OTHER and dt.roles else None)
        if len(n_axes) != 1 or m == 0 or k < m + 2 or droles[0] != "N":
            return None
        if droles[k - m:] != [roles[i] for i in s_axes]:
            return None
        middle = droles[1:k - m]
        if any(d is not None and (d == "N" or d.startswith("S")) for d in middle):
            return None
        g_in = [i for i in range(r) if i not in n_axes and i not in s_axes]
        desired = tuple(n_axes + s_axes + g_in)
        axes = L.transpose_axes(perm, desired, r)
        x = code(node)
        if axes != tuple(range(r)):
            self.transposes += 1
            x = f"jnp.transpose({x}, {axes})"
        nm = k - m - 1
        src = f"{x}.reshape({', '.join([dims_src[0]] + dims_src[k - m:] + dims_src[1:k - m])})"
        out_perm = (0,) + tuple(range(1 + nm, k)) + tuple(range(1, 1 + nm))
        out_roles = ("N",) + (("C",) if nm == 1 else tuple(f"C{i}" for i in range(nm))) \
            + tuple(roles[i] for i in s_axes)
        return self.set(self.built(src), Tag(L.TENSOR, perm=out_perm, rank=k, roles=out_roles))

    def stack(self, rule: Rule, args, name_nodes) -> Tag:
        lay = rule.layout
        node = name_nodes.get(lay.tensors[0])
        t = self.tag(node) if node is not None else L.plain()
        fixed = torch_order_elements(self, node, t) if node is not None else None
        if fixed is not None:  # elements in different layouts: each in torch order (mixed_sequences.py)
            args.given_src[lay.tensors[0]] = code(fixed)
            return L.plain()
        if not t.channels_last:
            return L.plain()
        d = args.lit(lay.dims[0]) if args.given(lay.dims[0]) else 0
        if not isinstance(d, int):
            # a computed dim counts in torch's order: stack the tensors channels-first
            new = self.canonical(node, f"{rule.name} with a computed dim on a channels-last tensor")
            args.given_src[lay.tensors[0]] = code(new)
            return L.plain()
        rank = len(t.perm) + 1
        d %= rank
        args.given_src[lay.dims[0]] = "0"
        return Tag(L.TENSOR, perm=(d,) + tuple(a if a < d else a + 1 for a in t.perm))

    def _reduced_image_batch(self, rule: Rule, args):
        if not rule.layout.reduces or len(rule.layout.dims) != 1 or not args.given(rule.layout.dims[0]):
            return None
        try:
            return L.image_batch_by_reduced_dims(ast.literal_eval(args.src(rule.layout.dims[0])))
        except (ValueError, SyntaxError):
            return None

    def remap_dims(self, original, rule: Rule, args, name_nodes) -> Tag:
        lay = rule.layout
        tnames = [n for n in lay.tensors if n in name_nodes]
        if not tnames:
            return L.plain()
        node = name_nodes[tnames[0]]
        t = self.tag(node)
        fixed = torch_order_elements(self, node, t)
        if fixed is not None:  # elements in different layouts: each in torch order (mixed_sequences.py)
            args.given_src[tnames[0]] = code(fixed)
            node, t = fixed, self.tag(fixed)
        origin = None
        if t.kind == L.FREE:
            image = self._reduced_image_batch(rule, args)
            if image is not None:
                t = self.decide(t, image)
            else:
                # torch's order, provisionally: a spatial layer the result reaches (SE's
                # x.mean(1, keepdim=True) into a 1x1 conv) takes it channels-last next round
                origin = t.param if t.param not in self.decided and self.func_name != "__init__" else None
                t = self.decide(t, L.plain().with_(origin=origin))
        elif t.kind == L.SEQ and t.param:
            t = self.decide(Tag(L.FREE, param=t.param), L.plain()).with_(kind=L.SEQ)
        other_result = lay.result == "other"
        if not t.channels_last:
            return L.OTHER_TAG if other_result else L.plain().with_(origin=t.origin if t.kind == L.TENSOR else None)
        perm = t.perm
        rank = len(perm)
        reduced: set[int] = set()
        ok = True
        for dname in lay.dims:
            if not args.given(dname):
                if lay.nodim == "canonical":
                    ok = False
                    break
                if lay.reduces:
                    # no dim: reduce everything (a scalar) or ops like x.size()
                    reduced = set(range(rank))
                continue
            try:
                v = ast.literal_eval(args.src(dname))
            except (ValueError, SyntaxError):
                ok = False
                break
            if v is None:
                reduced = set(range(rank))
                continue
            vals = list(v) if isinstance(v, (tuple, list)) else [v]
            if not all(isinstance(x, int) for x in vals):
                ok = False
                break
            norm = [x + rank if x < 0 else x for x in vals]
            # the channel axis reads best as -1 (the design's `axis=-1`)
            new = [(-1 if a == rank - 1 else a) for a in (L.physical_axis(perm, x) for x in norm)]
            reduced.update(norm)
            args.given_src[dname] = repr(tuple(new)) if isinstance(v, (tuple, list)) else str(new[0])
        if not ok:
            new_node = self.canonical(node, f"{rule.name} with a computed dim on a channels-last tensor")
            args.given_src[tnames[0]] = code(new_node)
            return L.OTHER_TAG if other_result else L.plain()
        if other_result:
            if len(reduced) == 1 and t.roles is not None:
                return Tag(L.OTHER, roles=(t.roles[next(iter(reduced))],))
            return L.OTHER_TAG
        t = L.element(t)
        if lay.reduces and reduced:
            keep = False
            if lay.keepdim and args.given(lay.keepdim):
                keep = args.lit(lay.keepdim, None)
                if keep not in (True, False):
                    return L.plain()
            if keep:
                one = t.one or set(range(2, rank)) <= reduced
                return t.with_(one=one)
            newperm = L.after_reduce(perm, reduced)
            if not newperm or L.is_identity(newperm):
                return L.plain(len(newperm) if newperm else 0)
            roles = tuple(r for i, r in enumerate(t.roles) if i not in reduced) if t.roles else None
            return L.Tag(L.TENSOR, perm=newperm, one=t.one, rank=len(newperm), roles=roles)
        return t

    # ------------------------------------------------------------ statements
    def leave_Assign(self, original, updated):
        chosen = flag_layouts.rewrite(self, original, updated)
        if chosen is not None:
            return chosen
        tied = self.tie_weights(original)
        if tied is not None:
            return tied
        flag = assign_mode_flag(self, original, updated)
        if flag is not None:
            return flag
        frozen = module_api.requires_grad_assign(self, updated)
        if frozen is not None:
            return frozen
        updated = module_api.note_assign(self, original, updated)
        vt = self.tag(updated.value)
        base = self.data_target(updated.targets[0].target) if len(updated.targets) == 1 else None
        if base is not None:
            # w.data = t: the tensor's values, written into the Variable it may be
            value = expr(f"{self.build_ctx.helper('inplace_set')}({code(base)}, {code(updated.value)})")
            return updated.with_changes(targets=[cst.AssignTarget(target=base)], value=value)
        new_targets = []
        for target in updated.targets:
            new_targets.append(target.with_changes(target=self.bind_target(target.target, vt)))
        updated = updated.with_changes(targets=new_targets)
        if len(updated.targets) == 1 and isinstance(updated.targets[0].target, cst.Subscript) \
                and isinstance(updated.targets[0].target.value, cst.Name) and vt.kind == L.MODULE and vt.module:
            # layers["conv"] = nn.Conv2d(...): an OrderedDict of layers, for nn.Sequential(layers)
            name = updated.targets[0].target.value.value
            cur = self.env.get(name)
            odict = cur.module if cur is not None and cur.kind == L.MODULE and cur.module is not None \
                and cur.module.kind == "odict" else ModuleRef("odict")
            key = named_members.item_name(updated.targets[0].target)
            self.env[name] = Tag(L.MODULE, module=ModuleRef("odict", elements=tuple(odict.elements) + (vt.module,),
                                                            names=tuple(odict.names) + (key,)))
            return updated
        # x[idx] = v  ->  x = x.at[idx].set(v)
        if len(updated.targets) == 1 and isinstance(updated.targets[0].target, cst.Subscript):
            sub = updated.targets[0].target
            st = self.tag(sub.value)
            if st.is_tensor and st.kind != L.UNKNOWN and dotted(sub.value):
                idx = ', '.join(code(e.slice) for e in sub.slice)
                return cst.Assign(targets=[cst.AssignTarget(target=sub.value)],
                                  value=self.item_update(sub.value, f"at[{idx}].set({code(updated.value)})"))
            view = _transposed_view(sub.value)
            if view is not None:
                # w.data[i, j] = v on a kernel read in torch's order: set in the view, written back
                base, axes = view
                idx = ', '.join(code(e.slice) for e in sub.slice)
                helper = self.build_ctx.helper("inplace_set_view")
                value = expr(f"{helper}({code(base)}, {code(sub.value)}.at[{idx}].set({code(updated.value)}), {axes})")
                return cst.Assign(targets=[cst.AssignTarget(target=base)], value=value)
        return updated

    def may_be_variable(self, node) -> bool:
        """A place that may hold an nnx.Variable: a module's attribute (a parameter,
        a layer's kernel) or a helper's parameter not rebound yet."""
        return isinstance(node, cst.Attribute) or isinstance(node, cst.Name) and node.value in self.maybe_variables

    def item_update(self, base, at: str):
        """``base.<at>`` (``at[idx].set(v)``) as the new value of ``base``: written into
        the Variable where ``base`` may hold one (every holder sees it, as in torch)."""
        if self.may_be_variable(base):
            return expr(f"{self.build_ctx.helper('inplace_set')}({code(base)}, jnp.asarray({code(base)}).{at})")
        return expr(f"{code(base)}.{at}")

    def data_target(self, target):
        """``w.data`` written to (``w.data = t``, ``w.data *= s``) on a tensor: ``w`` itself."""
        if isinstance(target, cst.Attribute) and target.attr.value == "data" and dotted(target.value):
            t = self.tag(target.value)
            if t.is_tensor and t.kind != L.UNKNOWN:
                return target.value
        return None

    def tie_weights(self, original):
        """issue 6: weight tying, ``a.wte.weight = b.lm_head.weight`` between two
        layers -> ``tie_weights(a, "wte", b, "lm_head")``: one shared nnx.Param
        (a Linear tied to an Embedding becomes a TiedLinear over its table)."""
        if len(original.targets) != 1 or self.cls is None:
            return None
        t, v = original.targets[0].target, original.value
        if not (isinstance(t, cst.Attribute) and isinstance(v, cst.Attribute) and t.attr.value in TIED_WEIGHT_NAMES
                and v.attr.value == t.attr.value and isinstance(t.value, cst.Attribute)
                and isinstance(v.value, cst.Attribute) and dotted(t.value) and dotted(v.value)
                and dotted(t.value).startswith("self.") and dotted(v.value).startswith("self.")):
            return None
        self.build_ctx.helper("tie_weights")
        self.f.weight_maps[TIED_LINEAR_WEIGHTS.nnx_class] = TIED_LINEAR_WEIGHTS
        return cst.Expr(expr(f"tie_weights({code(t.value.value)}, {t.value.attr.value!r}, "
                             f"{code(v.value.value)}, {v.value.attr.value!r})"))

    def bind_target(self, target, vt: Tag):
        if isinstance(target, cst.Name):
            self.env[target.value] = vt
        elif isinstance(target, (cst.Tuple, cst.List)):
            shape_reads.note_unpacked(self, vt)
            if vt.kind == L.SHAPE and vt.perm is not None and not L.is_identity(vt.perm) \
                    and len(target.elements) == len(vt.perm) and not any(isinstance(e, cst.StarredElement) for e in target.elements):
                # b, c, h, w = x.shape  ->  b, h, w, c = x.shape
                elems = list(target.elements)
                phys = [elems[vt.perm[i]] for i in range(len(elems))]
                phys = [p.with_changes(comma=elems[i].comma) for i, p in enumerate(phys)]
                for i, e in enumerate(elems):
                    self.bind_target(e.value, Tag(L.OTHER, roles=(vt.roles[i],)) if vt.roles else L.OTHER_TAG)
                return target.with_changes(elements=phys)
            if vt.kind == L.SHAPE and vt.roles is not None and len(target.elements) == len(vt.roles):
                for i, e in enumerate(target.elements):
                    self.bind_target(e.value, Tag(L.OTHER, roles=(vt.roles[i],)))
                return target
            items = vt.module if vt.kind == L.SEQ and isinstance(vt.module, tuple) else None
            if items and len(items) == len(target.elements):
                for e, it in zip(target.elements, items):
                    self.bind_target(e.value, it)
                return target
            elem_tag = L.OTHER_TAG if vt.kind in (L.SHAPE, L.OTHER) else L.element(vt)
            for e in target.elements:
                self.bind_target(e.value, elem_tag)
        elif isinstance(target, cst.Attribute):
            named_members.note_member_write(self, target, vt)
            if isinstance(target.value, cst.Name) and target.value.value == "self" and self.cls is not None:
                name = target.attr.value
                old = self.cls.attrs.get(name)
                if vt.kind == L.MODULE and isinstance(old, ModuleRef) and vt.module is not None \
                        and vt.module.kind in ("sequential", "list") and not vt.module.elements and old.elements:
                    pass  # an empty container in another branch: keep what the full one tells
                elif vt.kind == L.MODULE:
                    self.cls.attrs[name] = vt.module
                    slot_unions.note(self, name, vt)
                elif vt.kind == L.TENSOR:
                    self.cls.attrs[name] = vt
                elif name not in self.cls.attrs:
                    self.cls.attrs[name] = L.OTHER_TAG if vt.kind == L.OTHER else L.UNKNOWN_TAG
        return target

    def leave_AnnAssign(self, original, updated):
        flag = annassign_mode_flag(self, original, updated)
        if flag is not None:
            return flag
        if updated.value is not None:
            self.bind_target(updated.target, self.tag(updated.value))
        return updated

    def leave_AugAssign(self, original, updated):
        if augassign_mode_flag(self, original, updated):
            return updated
        if isinstance(updated.target, cst.Subscript):
            # x[idx] += v  ->  x = x.at[idx].add(v), as x[idx] = v is (JAX arrays are immutable)
            sub = updated.target
            st = self.tag(sub.value)
            if st.is_tensor and st.kind != L.UNKNOWN and dotted(sub.value):
                op = code(updated.operator).strip()[:-1]
                idx = ", ".join(code(e.slice) for e in sub.slice)
                method = {"+": "add", "*": "multiply", "/": "divide"}.get(op)
                val = code(updated.value)
                new = f"at[{idx}].{method}({val})" if method else \
                    f"at[{idx}].set({code(sub.value)}[{idx}] {op} ({val}))"
                return cst.Assign(targets=[cst.AssignTarget(target=sub.value)], value=self.item_update(sub.value, new))
            return updated
        base = self.data_target(updated.target)
        if base is not None:
            # w.data *= s: the tensor's values, written into the Variable it may be
            op = code(updated.operator).strip()[:-1]
            value = expr(f"{self.build_ctx.helper('inplace_set')}({code(base)}, {code(base)} {op} ({code(updated.value)}))")
            return cst.Assign(targets=[cst.AssignTarget(target=base)], value=value)
        if list_extended(self, updated) is not None:
            return updated
        t = self.tag(updated.target)
        vt = self.tag(updated.value)
        if t.is_tensor:
            target, value, tag = self.elementwise(updated.target, updated.value, t, vt)
            if value is not updated.value:
                updated = updated.with_changes(value=value)
            if isinstance(updated.target, cst.Name):
                self.env[updated.target.value] = tag
            if target is not updated.target:
                # the target itself had to change layout: spell it out as x = x' op v
                # (x holds the result's layout from here on)
                op = code(updated.operator).strip()[:-1]
                return cst.Assign(targets=[cst.AssignTarget(updated.target)],
                                  value=expr(f"{code(target)} {op} {code(updated.value)}"))
        return updated

    def on_leave(self, original_node, updated_node):
        result = super().on_leave(original_node, updated_node)
        self._last = result
        return result

    def leave_For_iter(self, node):
        # bind the loop variable from what is iterated, before the body is visited
        it = getattr(self, "_last", None)
        if it is None:
            self.bind_target(node.target, L.UNKNOWN_TAG)
            return
        if module_api.bind_pairs(self, it, node.target):
            return
        self.bind_target(node.target, iter_element(self, it))

    def container_items(self, it):
        """``self.items()`` / ``self.values()`` / ``self.children()`` in a container
        subclass: its entries (added with add_module), as a tag of one item."""
        if not (isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and not it.args
                and it.func.attr.value in ("items", "values", "children") and code(it.func.value) == "self"
                and self.cls is not None):
            return None
        m = self.lookup_attr("*")
        if not isinstance(m, ModuleRef) and self.cls.container:
            m = UNKNOWN_MODULE  # handed to super().__init__: modules all the same
        elem = Tag(L.MODULE, module=m) if isinstance(m, ModuleRef) else L.UNKNOWN_TAG
        if it.func.attr.value == "items":
            return Tag(L.SEQ, module=(L.OTHER_TAG, elem))
        return elem

    def element_tag(self, t: Tag) -> Tag:
        if t.kind == L.MODULE and t.module is not None:
            m = t.module
            if m.kind in ("list", "sequential", "union") and m.elements:
                return Tag(L.MODULE, module=m.elements[0] if len(m.elements) == 1 else ModuleRef("union", elements=m.elements))
            return Tag(L.MODULE, module=UNKNOWN_MODULE)
        if t.kind == L.SEQ:
            return L.element(t)
        if t.kind == L.TENSOR:
            return L.plain()
        return L.UNKNOWN_TAG

    def leave_For(self, original, updated):
        self._pop_env(loop=True)
        layers = module_api.layers_of(self, updated.iter)
        if layers is not None:  # for m in seq: an nnx.Sequential's layers
            updated = updated.with_changes(iter=layers)
        return self._attach(updated)

    def leave_CompFor(self, original, updated):
        layers = module_api.layers_of(self, updated.iter)
        return updated.with_changes(iter=layers) if layers is not None else updated

    def returnable(self, node):
        """Returned values: channels-last where torch has channels-first spatial
        tensors, torch's own layout for everything else (the contract)."""
        t = self.tag(node)
        want = self.f.return_layouts.get(self.return_key)
        if want is not None and t.kind == L.TENSOR:
            # the function's returns disagreed last round: all take one layout
            return self.to_layout(node, t, want, "returns of this function agree on one layout"), want
        if t.kind == L.TENSOR and t.perm is not None and not L.is_identity(t.perm) \
                and not (t.perm == L.cl_perm(len(t.perm)) and t.roles in (None, L.spatial_roles(len(t.perm)))):
            return self.canonical(node), L.plain()
        return node, t

    @property
    def return_key(self):
        return (self.cls.name if self.cls is not None else None, self.func_name)

    def leave_Return(self, original, updated):
        if updated.value is not None:
            if isinstance(updated.value, cst.Tuple):
                elems, tags = [], []
                for e in updated.value.elements:
                    v, t = self.returnable(e.value)
                    elems.append(e.with_changes(value=v))
                    tags.append(t)
                updated = updated.with_changes(value=updated.value.with_changes(elements=elems))
                self.returns.append(Tag(L.SEQ, module=tuple(tags)))
            else:
                value, t = self.returnable(updated.value)
                updated = updated.with_changes(value=value)
                self.returns.append(t)
        self.end_branch()
        return updated

    def finish(self) -> Summary:
        s = self.summary
        shape_reads.ask_decided(self)
        for p in s.params:
            t = self.env.get(p)
            decided = self.decided.get(p)
            if decided is not None:
                s.takes[p] = decided.with_(origin=None)  # a parameter name means nothing to callers
        ret = None
        tensors = set()
        for t in self.returns:
            t = self.resolve(t)
            ret = t if ret is None else L.join(ret, t)
            if t.kind == L.TENSOR:
                tensors.add(t.perm if t.perm is not None and not L.is_identity(t.perm) else None)
        if len(tensors) > 1 and self.return_key not in self.f.return_layouts:
            # `return x` on one path, `return x * noise` (torch order) on another:
            # bring them to one layout next round, channels-last where one is
            cl = [p for p in tensors if p is not None and p == L.cl_perm(len(p))]
            self.f.return_layouts[self.return_key] = L.channels_last(len(cl[0])) if cl else L.plain()
        s.returns_origin = returned_origins.of_return(ret, s.params)
        s.returns = ret.with_(origin=None) if ret is not None else None
        return s


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
