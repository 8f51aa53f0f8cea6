"""Branches of an ``if`` that leave one variable in different layouts.

``if self.radix > 1: x = x.reshape((B, r, RC // r, H, W))`` (timm's split
attention) leaves ``x`` held channels-last as a rank-5 tensor on one path and as
the rank-4 map on the other; ``if not self.nchw_attn: x = x.permute(0, 2, 3, 1)``
(MaxxViT) leaves it channels-last on one and in torch's order on the other. The
join of the two tags is unknown, and what follows read the channels-last data in
torch's order (an operand ``(B, r, c, 1, 1)`` broadcast against ``(B, H, W, r, c)``).

Here each branch that falls through to the code after the ``if`` and holds such a
variable channels-last ends by transposing it to torch's order (an ``else`` is
added for the path that skips the body), so the join is torch order on every path:
correct, one transpose per branch.
"""

from __future__ import annotations

import libcst as cst

from . import layout as L

NOTE = "  # torch2nnx: torch order, as the other branch of the if leaves it"


def _differs(a: L.Tag, b: L.Tag) -> bool:
    if a.kind != L.TENSOR or b.kind != L.TENSOR:
        return False
    if not (a.channels_last or b.channels_last):
        return False
    pa = None if L.is_identity(a.perm) else tuple(a.perm)
    pb = None if L.is_identity(b.perm) else tuple(b.perm)
    return pa != pb


def settle_if(rw, updated: cst.If) -> cst.If:
    """Called by the body rewriter on leaving an ``if`` (before its environments
    are joined): bring variables the branches leave in different layouts to torch
    order at the end of each branch. ``rw._envs[-1]`` is (environment before the
    ``if``, finished branch environments, has-else flag)."""
    if not getattr(rw, "_envs", None):
        return updated
    if updated.orelse is not None and not isinstance(updated.orelse, cst.Else):
        return updated  # an elif chain: joined as before
    before, done, has_else = rw._envs[-1]
    if has_else[0]:
        body_env = done[0] if done else None
        else_env = None if rw._ended else rw.env
    else:
        body_env = None if rw._ended else rw.env
        else_env = before
    if body_env is None or else_env is None:
        return updated
    body_stmts, else_stmts = [], []
    for name in sorted(set(body_env) & set(else_env)):
        tb, te = rw.resolve(body_env[name]), rw.resolve(else_env[name])
        if not _differs(tb, te):
            continue
        for t, env, stmts in ((tb, body_env, body_stmts), (te, else_env, else_stmts)):
            if not t.channels_last:
                continue
            rank = len(t.perm)
            node = rw.to_layout(cst.Name(name), t, L.plain(rank))
            stmts.append(cst.parse_statement(f"{name} = {cst.Module([]).code_for_node(node)}{NOTE}\n"))
            env[name] = L.plain(rank)
    if not body_stmts and not else_stmts:
        return updated
    if body_stmts:
        updated = updated.with_changes(body=updated.body.with_changes(body=list(updated.body.body) + body_stmts))
    if else_stmts:
        if updated.orelse is None:
            updated = updated.with_changes(orelse=cst.Else(body=cst.IndentedBlock(body=else_stmts)))
        else:
            block = updated.orelse.body
            updated = updated.with_changes(orelse=updated.orelse.with_changes(
                body=block.with_changes(body=list(block.body) + else_stmts)))
    return updated
