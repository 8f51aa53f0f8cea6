"""Transposes written at the end of the branches of an ``if``.

``branch_envs`` joins the layouts of the branches; where one name is held in
different orders by them (an image channels-last on one path, a token tensor
made from it on the other), every branch holding it permuted moves it to
torch's order at its end (``BranchEnvsMixin._held_apart``). This writes those
moves: appended to the body, to the ``else``, or in an ``else`` written for the
path that skips the body.
"""

from __future__ import annotations

import libcst as cst


def _move(name: str, axes) -> cst.SimpleStatementLine:
    stmt = cst.parse_statement(f"{name} = jnp.transpose({name}, {tuple(axes)})\n")
    note = cst.EmptyLine(comment=cst.Comment("# torch2nnx: in the layout the other branches hold it in"))
    return stmt.with_changes(leading_lines=[note])


def _append(block, stmts):
    if isinstance(block, cst.SimpleStatementSuite):
        block = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=list(block.body))])
    return block.with_changes(body=list(block.body) + stmts)


def write_moves(node: cst.If, moves: dict) -> cst.If:
    """``moves``: {"body" | "orelse" | "else": [(name, axes)]}."""
    if moves.get("body"):
        node = node.with_changes(body=_append(node.body, [_move(n, a) for n, a in moves["body"]]))
    if moves.get("orelse") and node.orelse is None:  # the env of a missing else: the path skipping the body
        moves = {**moves, "else": moves["orelse"] + moves.get("else", []), "orelse": []}
    if moves.get("orelse"):
        stmts = [_move(n, a) for n, a in moves["orelse"]]
        orelse = node.orelse
        if isinstance(orelse, cst.If):  # an elif: it becomes `else: if ...` followed by the moves
            orelse = cst.Else(body=cst.IndentedBlock(body=[orelse] + stmts))
        else:
            orelse = orelse.with_changes(body=_append(orelse.body, stmts))
        node = node.with_changes(orelse=orelse)
    if moves.get("else"):
        node = node.with_changes(orelse=cst.Else(body=cst.IndentedBlock(
            body=[_move(n, a) for n, a in moves["else"]])))
    return node
