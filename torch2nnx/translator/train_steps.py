"""Training steps (issue 16): ``loss.backward()`` ... ``optimizer.step()``
becomes a loss closure under ``nnx.value_and_grad`` and
``optimizer.update(model, grads)``.

A pre-pass over the torch source, before analysis, so the statements it moves
into the closure are translated (and their layouts inferred) like any other
code. In one statement block (a function's body, a loop's body) holding
``L.backward()`` and, after it, ``O.step()``:

- the statements computing ``L`` (a backward slice of plain assignments
  before the backward call) move into ``def _t2n_loss_fn(model): ...; return
  L, (aux, ...)``, where ``model`` is the one module the slice calls (a name);
  names the slice binds and other code reads come back as aux values;
- ``L.backward()`` becomes ``(L, (aux, ...)), grads =
  nnx.value_and_grad(_t2n_loss_fn, has_aux=True)(model)``;
- ``clip_grad_norm_(model.parameters(), max_norm)`` / ``clip_grad_value_``
  between them clip ``grads`` (runtime/losses.py);
- ``O.step()`` becomes ``O.update(model, grads)``; ``O.zero_grad()`` and
  ``model.zero_grad()`` go (JAX gradients do not accumulate).

A block this cannot read (no step after the backward, several backward calls
before one step, the model not one name) is left as it is: ``L.backward()``
keeps its TODO(torch2nnx) marker and T2N001 diagnostic.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from .imports import ImportTable, dotted

import builtins

LOSS_FN = "_t2n_loss_fn"
_BUILTINS = set(dir(builtins))
# torch's clipping functions -> the runtime helpers (runtime/losses.py) clipping ``grads``
CLIP = {"torch.nn.utils.clip_grad_norm_": "grads_clip_norm", "torch.nn.utils.clip_grad_norm": "grads_clip_norm",
        "torch.nn.utils.clip_grad_value_": "grads_clip_value"}
HELPERS = ("grads_norm", "grads_clip_norm", "grads_clip_value", "grads_add")


def _method_call(stmt, method: str) -> Optional[cst.BaseExpression]:
    """``R.method()`` as an expression statement: R; else None."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Expr):
        return None
    call = stmt.body[0].value
    if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == method:
        return call.func.value
    return None


def _code(node) -> str:
    return cst.Module([]).code_for_node(node)


def _assigned(stmt) -> set[str]:
    out = set()
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            targets = []
            if isinstance(small, cst.Assign):
                targets = [t.target for t in small.targets]
            elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                targets = [small.target]
            for t in targets:
                out |= {n.value for n in _names(t)}
    return out


def _names(node) -> list[cst.Name]:
    found = []

    class V(cst.CSTVisitor):
        def visit_Name(self, n):
            found.append(n)

        def visit_Attribute(self, n):
            n.value.visit(self)
            return False  # x.attr: the attribute is no name of its own

    node.visit(V())
    return found


def _is_assignment(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 \
        and isinstance(stmt.body[0], (cst.Assign, cst.AnnAssign, cst.AugAssign))


def _self_attr(node) -> Optional[str]:
    """``self.X`` as code (a trainer's ``self.model``), else None."""
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
        return f"self.{node.attr.value}"
    return None


def _reads(node) -> list:
    """The names and ``self.X`` attributes an expression reads (as nodes)."""
    found = []

    class V(cst.CSTVisitor):
        def visit_Name(self, n):
            found.append(n)

        def visit_Attribute(self, n):
            if _self_attr(n):
                found.append(n)
                return False
            n.value.visit(self)
            return False

    node.visit(V())
    return found


def _replace(node, dotted: str, name: str):
    """``node`` with the attribute ``dotted`` (``self.model``) read as ``name``."""
    if "." not in dotted:
        return node

    class T(cst.CSTTransformer):
        def leave_Attribute(self, original, updated):
            return cst.Name(name) if _self_attr(original) == dotted else updated

    return node.visit(T())


def _statements(node) -> list:
    """Every simple statement line under ``node``."""
    found = []

    class V(cst.CSTVisitor):
        def visit_SimpleStatementLine(self, n):
            found.append(n)

    node.visit(V())
    return found


def _is_docstring(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr) \
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))


def _called_names(stmts) -> list[str]:
    out = []

    class V(cst.CSTVisitor):
        def visit_Call(self, n):
            called = n.func.value if isinstance(n.func, cst.Name) else _self_attr(n.func)
            if called and called not in out:
                out.append(called)

    for s in stmts:
        s.visit(V())
    return out


class _Steps(cst.CSTTransformer):
    def __init__(self, module: cst.Module, imports: ImportTable):
        self.imports = imports
        self.module = module
        self.top_defs = {s.name.value for s in module.body if isinstance(s, (cst.FunctionDef, cst.ClassDef))}
        self.top_defs |= set(imports.names)
        code = module.code
        self.code = code
        self.scope_stack: list[cst.CSTNode] = [module]
        self.losses = self._loss_names(module)
        self._slice_models: set[str] = set()  # the models of a function's accumulating slices

    def _loss_names(self, module) -> set[str]:
        """Names bound to a loss module (``crit = nn.CrossEntropyLoss()``): no model."""
        from ..rules import losses

        out = set()

        class V(cst.CSTVisitor):
            def visit_Assign(inner, n):
                if isinstance(n.value, cst.Call) and self.imports.qualify(n.value.func) in losses.LOSS_NAMES:
                    for t in n.targets:
                        attr = _self_attr(t.target)  # a trainer's self.criterion
                        out.update([attr] if attr else [x.value for x in _names(t.target)])

        module.visit(V())
        return out

    # the enclosing scope, to find what code outside the slice reads
    def visit_FunctionDef(self, node):
        self.scope_stack.append(node)

    def leave_FunctionDef(self, original, updated):
        try:
            return self._accumulate(updated) or updated
        finally:
            self.scope_stack.pop()

    def _optimizer(self, fn) -> Optional[str]:
        """The one optimizer whose ``step()`` the function calls (schedulers'
        ``step()`` aside; one with ``zero_grad()`` preferred)."""
        steps, zeroed, schedulers = [], set(), set()
        imports = self.imports

        class V(cst.CSTVisitor):
            def visit_Assign(inner, n):
                q = imports.qualify(n.value.func) if isinstance(n.value, cst.Call) else None
                if q and q.startswith("torch.optim.lr_scheduler."):
                    schedulers.update(_code(t.target) for t in n.targets)

            def visit_SimpleStatementLine(inner, n):
                for method, bucket in (("step", steps), ("zero_grad", None)):
                    r = _method_call(n, method)
                    if r is not None:
                        (bucket.append(_code(r)) if bucket is not None else zeroed.add(_code(r)))

        fn.visit(V())
        cands = sorted({r for r in steps if r not in schedulers})
        if len(cands) > 1:
            cands = [r for r in cands if r in zeroed]
        return cands[0] if len(cands) == 1 else None

    def _accumulate(self, fn):
        """Backward calls left in a function once single-block steps are read
        (several before one step, or the step in another block: gradient
        accumulation): each adds to ``grads``, which ``zero_grad()`` clears
        and ``step()`` applies."""
        if not any(_method_call(s, "backward") is not None for s in _statements(fn)):
            return None
        opt = self._optimizer(fn)
        if opt is None:
            return None
        steps, models = self, set()

        class T(cst.CSTTransformer):
            failed = False

            def leave_IndentedBlock(inner, original, updated):
                stmts = list(updated.body)
                if any(_method_call(st, "backward") is not None for st in stmts):
                    new = steps._rewrite_block(stmts, accumulate=True)
                    if new is None:
                        inner.failed = True
                        return updated
                    stmts = new
                return updated.with_changes(body=stmts)

            def leave_FunctionDef(inner, original, updated):
                return updated  # nested functions: their own pass

        # the model: the one every backward slice finds
        self._slice_models = models
        t = T()
        body = fn.body.visit(t)
        if t.failed or len(models) != 1:
            return None
        (model,) = models

        class S(cst.CSTTransformer):
            """step() applies ``grads``, zero_grad() clears them, clipping clips them."""

            def leave_IndentedBlock(inner, original, updated):
                out = []
                for st in updated.body:
                    step, zero = _method_call(st, "step"), _method_call(st, "zero_grad")
                    if step is not None and _code(step) == opt:
                        out.append(cst.parse_statement(f"{opt}.update({model}, grads)\n")
                                   .with_changes(leading_lines=st.leading_lines))
                    elif zero is not None and _code(zero) in (opt, model):
                        out.append(cst.parse_statement("grads = None\n").with_changes(leading_lines=st.leading_lines))
                    else:
                        clipped = steps._clip(st)
                        out += clipped if clipped is not None else [st]
                return updated.with_changes(body=out)

        body = body.visit(S())
        stmts = list(body.body)
        at = 1 if stmts and _is_docstring(stmts[0]) else 0
        stmts.insert(at, cst.parse_statement("grads = None\n"))
        return fn.with_changes(body=body.with_changes(body=stmts))

    def _model(self, stmts, scope) -> Optional[str]:
        cands = [n for n in _called_names(stmts) if n not in self.top_defs and n not in self.losses
                 and n not in _BUILTINS]
        if len(cands) > 1:
            # the module whose parameters or mode the code touches
            scope_code = _code(scope) if not isinstance(scope, cst.Module) else self.code
            preferred = [n for n in cands if f"{n}.parameters(" in scope_code or f"{n}.train(" in scope_code]
            cands = preferred
        return cands[0] if len(cands) == 1 else None

    def _rewrite_block(self, stmts: list, accumulate: bool = False) -> Optional[list]:
        """One step in one block (``backward`` then ``step``); or, with
        ``accumulate``, each backward of the block adding to ``grads`` (the
        function's steps and zero_grad calls are rewritten by _accumulate)."""
        if accumulate:
            changed = False
            while any(_method_call(s, "backward") is not None for s in stmts):
                b = next(i for i, s in enumerate(stmts) if _method_call(s, "backward") is not None)
                new = self._slice(stmts, b, accumulate=True)
                if new is None:
                    return None
                stmts, changed = new[0], True
                self._slice_models.add(new[1])
            return stmts if changed else None
        backs = [i for i, s in enumerate(stmts) if _method_call(s, "backward") is not None]
        steps = [i for i, s in enumerate(stmts) if _method_call(s, "step") is not None]
        if len(backs) != 1:
            return None
        after = [i for i in steps if i > backs[0]]
        if not after:
            return None
        new = self._slice(stmts, backs[0], step=after[0])
        return None if new is None else new[0]

    def _slice(self, stmts: list, b: int, step: Optional[int] = None, accumulate: bool = False):
        """The block with the backward at ``b`` rewritten (and, given ``step``,
        the step at that index): (statements, model) or None."""
        s = step
        receiver = _method_call(stmts[b], "backward")
        loss = receiver.value if isinstance(receiver, cst.Name) else None
        # the backward slice: assignments before b that the loss depends on
        need, picked = {n.value for n in _names(receiver)}, []
        for i in range(b - 1, -1, -1):
            st = stmts[i]
            if _is_assignment(st) and _assigned(st) & need:
                picked.append(i)
                need |= {n.value for n in _names(st.body[0].value)}
                if isinstance(st.body[0], cst.AugAssign):
                    need |= _assigned(st)
        if not picked:
            return None
        picked.reverse()
        scope = self.scope_stack[-1]
        model = self._model([stmts[i] for i in picked], scope)
        if model is None:
            return None
        # the statements that involve the model (transitively) go into the closure;
        # the others (``x, y = batch``) stay where they are
        tainted, inside = {model}, []
        for i in picked:
            if {_code(n) for n in _reads(stmts[i].body[0].value)} & tainted:
                inside.append(i)
                tainted |= _assigned(stmts[i])
        if not inside or not {n.value for n in _names(receiver)} & tainted:
            return None
        # a trainer's ``self.model``: the closure takes it as a parameter of its own
        param = model
        if "." in model:
            param = model.rsplit(".", 1)[1]
            if param in {n.value for n in _names(scope)}:
                param = "_t2n_" + param
        slice_stmts = [_replace(stmts[i], model, param) for i in inside]
        bound = set().union(*(_assigned(st) for st in slice_stmts))
        # names read by code outside the slice: come back as aux values
        from collections import Counter

        in_slice = Counter(n.value for st in slice_stmts for n in _names(st))
        in_scope = Counter(n.value for n in _names(scope))
        read_elsewhere = {n for n in bound if in_scope[n] > in_slice[n]}
        aux = sorted((bound & read_elsewhere) - {loss})
        aux_src = "(" + ", ".join(aux) + ("," if len(aux) == 1 else "") + ")"
        value = loss or _code(_replace(receiver, model, param))
        ret = f"return {value}, {aux_src}" if aux else f"return {value}"
        fn = cst.FunctionDef(
            name=cst.Name(LOSS_FN), params=cst.Parameters([cst.Param(cst.Name(param))]),
            body=cst.IndentedBlock(slice_stmts + [cst.parse_statement(ret)]))
        grads = "_t2n_grads" if accumulate else "grads"
        value_target = loss or "_t2n_value"
        target = f"({value_target}, {aux_src}), {grads}" if aux else f"{value_target}, {grads}"
        has_aux = ", has_aux=True" if aux else ""
        grad_stmts = [cst.parse_statement(f"{target} = nnx.value_and_grad({LOSS_FN}{has_aux})({model})\n")]
        if accumulate:
            grad_stmts.append(cst.parse_statement("grads = grads_add(grads, _t2n_grads)\n"))
        out, later = [], []
        first, last = inside[0], inside[-1]
        for i, st in enumerate(stmts):
            if i in inside:
                if i == last:
                    out += [fn.with_changes(leading_lines=stmts[first].leading_lines)] + grad_stmts + later
                continue
            if first < i < last and {n.value for n in _names(st)} & bound:
                later.append(st)  # reads what the closure computes: after it
                continue
            if i == b:
                continue
            if not accumulate and _method_call(st, "zero_grad") is not None:
                continue
            if i == s:
                opt = _method_call(st, "step")
                out.append(cst.parse_statement(f"{_code(opt)}.update({model}, grads)\n")
                           .with_changes(leading_lines=st.leading_lines))
                continue
            if s is not None and b < i < s:
                clipped = self._clip(st)
                if clipped is not None:
                    out += clipped
                    continue
            out.append(st)
        return out, model

    def _clip(self, st) -> Optional[list]:
        """``clip_grad_norm_(model.parameters(), max_norm, ...)`` on ``grads``."""
        if not isinstance(st, cst.SimpleStatementLine) or len(st.body) != 1:
            return None
        small = st.body[0]
        call = small.value if isinstance(small, (cst.Expr, cst.Assign)) else None
        if not isinstance(call, cst.Call):
            return None
        helper = CLIP.get(self.imports.qualify(call.func) or "")
        if helper is None or not call.args:
            return None
        rest = ", ".join(_code(a) for a in call.args[1:])
        out = []
        if isinstance(small, cst.Assign) and helper == "grads_clip_norm":
            targets = " = ".join(_code(t.target) for t in small.targets)
            out.append(cst.parse_statement(f"{targets} = grads_norm(grads, {rest})\n"))
        out.append(cst.parse_statement(f"grads = {helper}(grads, {rest})\n"))
        return [out[0].with_changes(leading_lines=st.leading_lines)] + out[1:]

    def _block(self, updated, body_attr="body"):
        body = getattr(updated, body_attr)
        if not isinstance(body, cst.IndentedBlock):
            return updated
        new = self._rewrite_block(list(body.body))
        if new is None:
            return updated
        return updated.with_changes(**{body_attr: body.with_changes(body=new)})

    def leave_IndentedBlock(self, original, updated):
        new = self._rewrite_block(list(updated.body))
        return updated if new is None else updated.with_changes(body=new)

    def leave_Module(self, original, updated):
        new = self._rewrite_block(list(updated.body))
        return updated if new is None else updated.with_changes(body=new)


def rewrite_train_steps(module: cst.Module, package: Optional[str] = None) -> tuple[cst.Module, set[str]]:
    """The module with its training steps rewritten (itself when it has none),
    and the runtime helpers the rewritten steps call."""
    if ".backward(" not in module.code:
        return module, set()
    imports = ImportTable.from_module(module, package)
    new = module.visit(_Steps(module, imports))
    code = new.code
    return new, {h for h in HELPERS if f"{h}(" in code}


def source_offsets(old: cst.Module, new: cst.Module) -> dict:
    """id(top-level statement of ``new``) -> the lines before it in ``old``'s
    source (positions.LazyPositions), when the rewrite kept the top-level
    statements one for one; lines inside a rewritten statement after the step
    move by the lines the rewrite added."""
    if old is new or len(old.body) != len(new.body):
        return {}
    line = sum(old.code_for_node(h).count("\n") for h in old.header)
    out = {}
    for a, b in zip(old.body, new.body):
        out[id(b)] = line
        line += old.code_for_node(a).count("\n")
    return out
