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
HELPERS = ("grads_norm", "grads_clip_norm", "grads_clip_value")


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


def _called_names(stmts) -> list[str]:
    out = []

    class V(cst.CSTVisitor):
        def visit_Call(self, n):
            if isinstance(n.func, cst.Name) and n.func.value not in out:
                out.append(n.func.value)

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

    def _loss_names(self, module) -> set[str]:
        """Names bound to a loss module (``crit = nn.CrossEntropyLoss()``): no model."""
        from ..rules import losses

        out = set()

        class V(cst.CSTVisitor):
            def visit_Assign(inner, n):
                if isinstance(n.value, cst.Call) and self.imports.qualify(n.value.func) in losses.LOSS_NAMES:
                    for t in n.targets:
                        out.update(x.value for x in _names(t.target))

        module.visit(V())
        return out

    # the enclosing scope, to find what code outside the slice reads
    def visit_FunctionDef(self, node):
        self.scope_stack.append(node)

    def leave_FunctionDef(self, original, updated):
        self.scope_stack.pop()
        return updated

    def _model(self, stmts, scope) -> Optional[str]:
        cands = [n for n in _called_names(stmts) if n not in self.top_defs and n not in self.losses
                 and n not in _BUILTINS]
        if len(cands) > 1:
            # the module whose parameters or mode the code touches
            scope_code = _code(scope) if not isinstance(scope, cst.Module) else self.code
            preferred = [n for n in cands if f"{n}.parameters(" in scope_code or f"{n}.train(" in scope_code]
            cands = preferred
        return cands[0] if len(cands) == 1 else None

    def _rewrite_block(self, stmts: list) -> Optional[list]:
        backs = [i for i, s in enumerate(stmts) if isinstance(_method_call(s, "backward"), cst.Name)]
        steps = [i for i, s in enumerate(stmts) if _method_call(s, "step") is not None]
        if len(backs) != 1:
            return None
        b = backs[0]
        after = [i for i in steps if i > b]
        if not after:
            return None
        s = after[0]
        loss = _method_call(stmts[b], "backward").value
        # the backward slice: assignments before b that the loss depends on
        need, picked = {loss}, []
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
            if {n.value for n in _names(stmts[i].body[0].value)} & tainted:
                inside.append(i)
                tainted |= _assigned(stmts[i])
        if not inside or loss not in tainted:
            return None
        slice_stmts = [stmts[i] for i in inside]
        bound = set().union(*(_assigned(st) for st in slice_stmts))
        # names read by code outside the slice: come back as aux values
        from collections import Counter

        in_slice = Counter(n.value for st in slice_stmts for n in _names(st))
        in_scope = Counter(n.value for n in _names(scope))
        read_elsewhere = {n for n in bound if in_scope[n] > in_slice[n]}
        aux = sorted((bound & read_elsewhere) - {loss})
        aux_src = "(" + ", ".join(aux) + ("," if len(aux) == 1 else "") + ")"
        ret = f"return {loss}, {aux_src}" if aux else f"return {loss}"
        fn = cst.FunctionDef(
            name=cst.Name(LOSS_FN), params=cst.Parameters([cst.Param(cst.Name(model))]),
            body=cst.IndentedBlock(slice_stmts + [cst.parse_statement(ret)]))
        target = f"({loss}, {aux_src}), grads" if aux else f"{loss}, grads"
        has_aux = ", has_aux=True" if aux else ""
        grad_stmt = cst.parse_statement(f"{target} = nnx.value_and_grad({LOSS_FN}{has_aux})({model})\n")
        out, later = [], []
        first, last = inside[0], inside[-1]
        for i, st in enumerate(stmts):
            if i in inside:
                if i == last:
                    out += [fn.with_changes(leading_lines=stmts[first].leading_lines), grad_stmt] + later
                continue
            if first < i < last and {n.value for n in _names(st)} & bound:
                later.append(st)  # reads what the closure computes: after it
                continue
            if i == b or _method_call(st, "zero_grad") is not None:
                continue
            if i == s:
                opt = _method_call(st, "step")
                out.append(cst.parse_statement(f"{_code(opt)}.update({model}, grads)\n")
                           .with_changes(leading_lines=st.leading_lines))
                continue
            if b < i < s:
                clipped = self._clip(st)
                if clipped is not None:
                    out += clipped
                    continue
            out.append(st)
        return out

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
