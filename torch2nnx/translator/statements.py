"""Statements and control flow of a rewritten function: assignments and the
names they bind, in-place statements, if/for/while/with/try and the layouts
joined after them, returns.
"""

from __future__ import annotations

import libcst as cst

from ..rules import registry
from ..rules.place_writes import is_layer_attr_read, write_through
from ..rules.seq_ops import TIED_LINEAR_WEIGHTS, TIED_WEIGHT_NAMES
from . import layout as L
from . import kept_data, module_api, named_members, param_writes, patch_reshapes, sequential_returns, shape_reads, shape_values, slot_unions
from .context import UNKNOWN_MODULE, ModuleRef
from .decorators import removable_decorator, unused_wrapper_call
from .imports import dotted
from .layout import Tag
from .list_growth import list_extended
from .modeflag import annassign_mode_flag, assign_mode_flag, augassign_mode_flag
from . import branch_layouts, flag_classes, flag_layouts, flag_splits, tuple_layouts
from .loop_bindings import iter_element
from .body_support import code, _is_inplace_set, _is_place_write, expr, _transposed_view, _narrowed_name, _is_drop


def _stringy(node) -> bool:
    if isinstance(node, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
        return True
    return isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add) \
        and (_stringy(node.left) or _stringy(node.right))


def string_key(sub: cst.Subscript) -> bool:
    """``d[prefix + "weight"]``: a string indexes a dict, never a tensor (whatever the
    dataflow guessed for ``d``: a ``_load_from_state_dict`` hook's state_dict)."""
    return len(sub.slice) == 1 and isinstance(sub.slice[0].slice, cst.Index) and _stringy(sub.slice[0].slice.value)


class StatementsMixin:
    """The statements room of FunctionRewriter (function_rewriter.py)."""

    def visit_SimpleStatementLine(self, node):
        self.todos.append([])
        self._stmts.append(node)

    def leave_SimpleStatementLine(self, original, updated):
        seeded = kept_data.manual_seed(self, updated)
        if seeded is not None:
            self._attach(updated)
            return seeded
        if len(updated.body) == 1 and isinstance(updated.body[0], cst.Expr) and _is_drop(updated.body[0].value) \
                or unused_wrapper_call(self.f, original, updated):
            self._attach(updated)
            return cst.RemovalSentinel.REMOVE
        updated = self.inplace_statement(original, updated)
        updated = param_writes.statement(self, updated)
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
        param_writes.note_write(self, target)
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
        moves = self._pop_env(loop=True)
        return self._attach(branch_layouts.loop_end(self, updated, moves))

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
        if vt.kind == L.SHAPE and any(_starred(t.target) for t in updated.targets):
            # `*_, h, w = x.shape` of a channels-last x: a starred target cannot be
            # reordered, the sizes are read in torch's order instead
            src = shape_values.torch_order_source(self, updated.value, code(updated.value))
            if src is not None:
                updated = updated.with_changes(value=self.set(expr(src), L.OTHER_TAG))
                vt = L.OTHER_TAG
        new_targets = []
        for target in updated.targets:
            new_targets.append(target.with_changes(target=self.bind_target(target.target,
                                                                           _pairwise(self, target.target,
                                                                                     updated.value, vt))))
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
            if st.is_tensor and st.kind != L.UNKNOWN and dotted(sub.value) and not string_key(sub):
                idx = ', '.join(code(e.slice) for e in sub.slice)
                val = self.as_written_item(sub, updated.value)
                return cst.Assign(targets=[cst.AssignTarget(target=sub.value)],
                                  value=self.item_update(sub.value, f"at[{idx}].set({code(val)})"))
            view = _transposed_view(sub.value)
            if view is not None:
                # w.data[i, j] = v on a kernel read in torch's order: set in the view, written back
                base, axes = view
                idx = ', '.join(code(e.slice) for e in sub.slice)
                helper = self.build_ctx.helper("inplace_set_view")
                value = expr(f"{helper}({code(base)}, {code(sub.value)}.at[{idx}].set({code(updated.value)}), {axes})")
                return cst.Assign(targets=[cst.AssignTarget(target=base)], value=value)
        return updated

    def as_written_item(self, sub, value):
        """``value`` written into ``x[idx]``: in the layout that slice of ``x`` is held
        in (a value held permuted, attention heads' (0, 2, 1, 3), written into a
        torch-order tensor goes in torch's order; broadcasting is torch's)."""
        want, vt = self.tag(sub), self.tag(value)
        if want.kind != L.TENSOR or vt.kind != L.TENSOR or L.is_identity(vt.perm) and L.is_identity(want.perm):
            return value
        if L.is_identity(want.perm):
            return self.canonical(value)
        if vt.perm is not None and len(vt.perm) == len(want.perm) and vt.perm != want.perm:
            return self.to_layout(value, vt, want)
        return value

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
            self.free_shape_names.pop(target.value, None)
            param_writes.forget(self, target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            shape_reads.note_unpacked(self, vt)
            if vt.kind == L.SHAPE:
                # after the names are bound (which forgets what they held)
                target = self._bind_shape_names(target, vt)
                patch_reshapes.note_names(self, target, vt)
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
                        and vt.module.kind in ("sequential", "list") and not vt.module.elements \
                        and (old.elements or tuple_layouts.sequential_class(self.f, old)):
                    # an empty container in another branch, a slice of a Sequential subclass
                    # (torch's slice is one): keep what the full one tells
                    pass
                elif vt.kind == L.MODULE:
                    self.cls.attrs[name] = vt.module
                    slot_unions.note(self, name, vt)
                elif vt.kind == L.TENSOR:
                    self.cls.attrs[name] = vt
                elif name not in self.cls.attrs:
                    self.cls.attrs[name] = L.OTHER_TAG if vt.kind == L.OTHER else L.UNKNOWN_TAG
        return target

    def _bind_shape_names(self, target, vt: Tag):
        """``b, c, h, w = x.shape``: the names bound (remapped for a channels-last x)."""
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
        for e in target.elements:
            self.bind_target(e.value, L.OTHER_TAG)
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
            if st.is_tensor and st.kind != L.UNKNOWN and dotted(sub.value) and not string_key(sub):
                op = code(updated.operator).strip()[:-1]
                idx = ", ".join(code(e.slice) for e in sub.slice)
                method = {"+": "add", "*": "multiply", "/": "divide"}.get(op)
                val = code(self.as_written_item(sub, updated.value))
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
        updated = branch_layouts.loop_end(self, updated, self._pop_env(loop=True))
        layers = module_api.layers_of(self, updated.iter)
        if layers is not None:  # for m in seq: an nnx.Sequential's layers
            updated = updated.with_changes(iter=layers)
        batches = kept_data.converted(self, updated.iter)
        if batches is not None:  # for x, y in loader: a kept torch data loader's batches, as jax arrays
            updated = updated.with_changes(iter=batches)
        return self._attach(updated)

    def leave_CompFor(self, original, updated):
        layers = module_api.layers_of(self, updated.iter)
        if layers is not None:
            return updated.with_changes(iter=layers)
        batches = kept_data.converted(self, updated.iter)  # [model(x) for x, _ in loader]
        return updated.with_changes(iter=batches) if batches is not None else updated

    def returnable(self, node, item: int | None = None):
        """Returned values: channels-last where torch has channels-first spatial
        tensors, torch's own layout for everything else (the contract). ``item``:
        the place of ``node`` in a returned tuple."""
        t = self.tag(node)
        want = self.f.return_layouts.get(self.return_key)
        if want is not None and t.kind == L.TENSOR:
            # the function's returns disagreed last round: all take one layout
            return self.to_layout(node, t, want, "returns of this function agree on one layout"), want
        asked = sequential_returns.asked(self, t, item)
        if asked is not None:
            # the next layer of a Sequential takes it channels-last (sequential_returns.py)
            why = "a Sequential's next layer takes it channels-last" if item is None else \
                "handed back to this class in a loop, which takes it so"
            return self.to_layout(node, t, asked, why), asked
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
                origs = getattr(original.value, "elements", ())
                for i, e in enumerate(updated.value.elements):
                    v, t = self.returnable(e.value, i)
                    elems.append(e.with_changes(value=v))
                    tags.append(flag_splits.returned(self, origs[i].value, t) if len(origs) > i else t)
                updated = updated.with_changes(value=updated.value.with_changes(elements=elems))
                self.returns.append(Tag(L.SEQ, module=tuple(tags)))
            else:
                value, t = self.returnable(updated.value)
                updated = updated.with_changes(value=value)
                self.returns.append(flag_splits.returned(self, original.value, t))
        self.end_branch()
        return updated


def _pairwise(rw, target, value, vt: Tag) -> Tag:
    """``shape, p = x.shape, self.patch_size``: a display unpacked into as many
    names binds each the tag of its own element (a shape keeps its layout, for
    the reads of it that follow), where the display's tag tells none."""
    if isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List)) \
            and len(target.elements) == len(value.elements) \
            and not any(isinstance(e, cst.StarredElement) for e in list(target.elements) + list(value.elements)) \
            and not (vt.kind == L.SEQ and isinstance(vt.module, tuple)):
        tags = tuple(rw.tag(e.value) for e in value.elements)
        if any(t.kind == L.SHAPE for t in tags):
            return Tag(L.SEQ, module=tags)
    return tuple_layouts.unpacked(rw, target, value, vt)  # an unknown module's results


def _starred(target) -> bool:
    """An unpacking target with a starred name (``*_, h, w``)."""
    return isinstance(target, (cst.Tuple, cst.List)) and any(isinstance(e, cst.StarredElement)
                                                              for e in target.elements)
