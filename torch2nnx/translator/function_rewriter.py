"""Rewrite of one function body: layer constructors, ops, tensor methods and
the channels-last layout analysis that drives them.

The layout analysis runs while the body is rewritten, in statement order: each
expression leaves with a :class:`Tag`, assignments bind tags to names, control
flow joins them. The rewriter is composed of rooms by concern (statements.py,
value_reads.py, expressions.py, calls.py, factories.py, layer_layouts.py,
row_calls.py); this module holds its state and the hooks that frame a function.
"""

from __future__ import annotations

from typing import Optional, Sequence

import libcst as cst

from ..rules.base import Unsupported
from . import layout as L
from . import caller_params, kept_data, param_writes, state_io, returned_origins, shape_reads
from .context import BuildCtx, ClassInfo, FileContext, Summary
from .fastvisit import FastTransformer
from .layout import Tag
from . import flag_splits
from .branch_envs import BranchEnvsMixin
from .loop_bindings import ComprehensionScopes
from .places import PlacesMixin
from . import factory_makers
from .closures import takes_own_rngs
from .body_support import _passes_rngs
from .statements import StatementsMixin
from .value_reads import ValueReadsMixin
from .expressions import ExpressionsMixin
from .calls import CallsMixin
from .factories import FactoriesMixin
from .layer_layouts import LayerLayoutsMixin
from .row_calls import RowCallsMixin


class FunctionRewriter(StatementsMixin, ValueReadsMixin, ExpressionsMixin, CallsMixin, FactoriesMixin,
                       LayerLayoutsMixin, RowCallsMixin, ComprehensionScopes, BranchEnvsMixin, PlacesMixin,
                       FastTransformer):
    """Rewrites one function (or a class body's statements): its state (the layout
    environment, diagnostics, the build context) and the rooms it is made of, one
    concern each."""

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
        self.free_shape_names: dict[str, tuple[str, int, int]] = {}  # patch_reshapes.py
        self._deferred_calls = None  # caller_params.begin: a function whose rewriting finishes
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
        from .any_rank import marked
        self.any_rank = marked(fctx, cls, func_name)  # also run on another rank (any_rank.py)
        self.summary.any_rank = self.any_rank
        self.optional_names: set[str] = set()  # locals that may hold None: conversions keep it (optional_values.py)
        self.build_ctx = BuildCtx(fctx)
        self.build_ctx.cls = cls
        self.build_ctx.in_init = func_name == "__init__"
        self.returns: list[Tag] = []
        param_writes.begin(self, params)
        self.in_init = func_name == "__init__"
        self.statement_calls: set[int] = set()  # calls that are a whole statement (their value unused)
        self.assign_targets: set[int] = set()  # original nodes assigned to (`p.requires_grad = False`)
        self.root = None  # what walk() was first handed: the function body
        self._filled = None  # module_api.filled_names, computed once
        self.layer_calls: set[int] = set()  # calls of factories known by their use (factory_uses)
        # per enclosing def: its parameters that are torch data loaders (kept_data.py)
        self._data_params: list[set[str]] = [kept_data.loader_params(params)]
        self.saving = 0  # torch.save calls being rewritten around this point (state_io.py)
        self.seeds_rngs = False  # torch.manual_seed(s) became `rngs = nnx.Rngs(s)` (kept_data.py)
        self.factories: set[int] = set()  # lambdas and defs a factory maker returns (factory_makers.py)
        self.factory_stack: list[tuple] = []  # ... and default lambdas being rewritten, with what they hid
        self.in_defaults = False  # walking the parameters' default values

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

    def visit_FunctionDef(self, node):
        self.todos.append([])
        kept_data.note_params(self, node)
        self.enter_definition(node)
        self.enter_nested_def()
        factory_makers.enter(self, node)

    def leave_FunctionDef(self, original, updated):
        self._data_params.pop()
        self.leave_definition()
        self.leave_nested_def()
        made = factory_makers.leave(self, original, updated, updated.body)
        if made is not None:
            return self._attach(made)  # a factory a maker returns (factory_makers.py)
        if self.build_ctx.rngs_available and _passes_rngs(updated.body):
            # a closure building layers, maybe handed out as a factory (closures.py)
            updated = updated.with_changes(params=takes_own_rngs(updated.params, self.build_ctx.rngs))
        return self._attach(updated)

    # ------------------------------------------------------------- transposes

    def visit_Call(self, node):
        if kept_data.is_kept_call(self, node):
            return False  # a torch data pipeline: kept as written, its arguments too
        state_io.enter_call(self, node)
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

    def is_imported(self, node) -> bool:
        """A name bound by an import (a module or function, never a tensor)."""
        while isinstance(node, cst.Attribute):
            node = node.value
        return isinstance(node, cst.Name) and (node.value in self._local_imports or node.value not in self.env and (
            node.value in self.f.imports.names or node.value in self.f.imports.relative))

    def on_leave(self, original_node, updated_node):
        result = super().on_leave(original_node, updated_node)
        self._last = result
        return result

    def finish(self) -> Summary:
        s = self.summary
        shape_reads.ask_decided(self)
        caller_params.finish(self)
        for p in s.params:
            t = self.env.get(p)
            decided = self.decided.get(p)
            if decided is not None:
                s.takes[p] = decided.with_(origin=None)  # a parameter name means nothing to callers
        s.provisional = frozenset(p for p in s.params if (d := self.decided.get(p)) is not None
                                  and d.kind == L.TENSOR and not d.channels_last and d.origin == p)
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
