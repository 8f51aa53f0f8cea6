"""A tensor leaving the branches of an ``if`` in different layouts.

``if self.mlp is not None: x = ...; x = x.transpose(1, 2).view(B, C, H, W)``
after ``x = self.cpe2(...)`` (timm's DaViT): the body leaves ``x`` in torch
order, the path around it channels-last. The join used to call ``x`` unknown
and code after it read it in whichever order it guessed, silently wrong on one
of the paths (the next block of a Sequential fed channels as width). Now every
live branch ends with the transpose that brings ``x`` to one layout: the
channels-last image layout one branch has when every branch knows the same
rank (the contract's layout inside a model), torch order otherwise (a tensor of
unknown rank next to a channels-last one, or branches of different ranks: timm's
split attention views its map as rank 5 on one path only; a map one path may
have flattened at run time through a Flatten-or-Identity slot, converted with
the ``torch_order`` helper). A branch that returns or raises
never reaches the join and gets nothing; an ``if`` without ``else`` whose
skipped path needs the transpose gains an ``else``.
"""

from __future__ import annotations

from typing import Callable, Optional

import libcst as cst

from . import layout as L


def _target(tags: list[L.Tag]) -> Optional[L.Tag]:
    """The one layout tensors tagged ``tags`` (in different layouts) leave in."""
    if any(t.kind != L.TENSOR or t.weight for t in tags):
        return None
    cls = [t for t in tags if t.channels_last]
    if not cls or all(t.perm == cls[0].perm for t in tags):
        return None
    if any(t.or_flat for t in tags):
        # one path's map may have been flattened at run time (a Flatten-or-Identity
        # slot, reshape_choice.py): torch order, the map transposed only at its rank
        return L.plain()
    ranks = {L.rank_of(t) for t in tags}
    roles = {t.roles for t in tags if t.roles is not None}
    common_roles = roles.pop() if len(roles) == 1 else None
    one = all(t.one for t in tags)
    if len(ranks) == 1 and None not in ranks:
        images = [t for t in cls if L.is_image_layout(t)]
        if images:
            return images[0].with_(one=one, roles=common_roles, origin=None)
        return L.plain(ranks.pop()).with_(roles=common_roles)
    # different or unknown ranks (split attention's rank-5 view on one path): each
    # branch in torch order of its own rank, the one layout every rank has
    return L.plain()


def agree(labelled: list[tuple[str, dict]], resolve: Callable[[L.Tag], L.Tag]):
    """``labelled``: (branch label, environment at its end) of the live branches.
    Returns ({label: [(name, from tag, to tag)]}, {name: tag after the join})."""
    moves: dict[str, list] = {}
    agreed: dict[str, L.Tag] = {}
    if len(labelled) < 2:
        return moves, agreed
    names = set.intersection(*(set(env) for _, env in labelled))
    for name in sorted(names):
        tags = [resolve(env[name]) for _, env in labelled]
        want = _target(tags)
        if want is None:
            continue
        for (label, _), t in zip(labelled, tags):
            if t.perm != want.perm and not (L.is_identity(t.perm) and L.is_identity(want.perm)):
                moves.setdefault(label, []).append((name, t, want))
        agreed[name] = want
    return moves, agreed


def carried(before: dict, end: dict, resolve: Callable[[L.Tag], L.Tag]) -> dict:
    """A loop body ending with a tensor in another layout than it entered with
    (timm's Twins: a stage's tokens made into a torch-order map for the next
    stage's patch embedding, which the body was rewritten to take channels-last):
    {"body": [(name, at the end, at the entry)]}, the moves that end each
    iteration as the next begins."""
    out = []
    for name in sorted(set(before) & set(end)):
        t0, t1 = resolve(before[name]), resolve(end[name])
        if t0.kind != L.TENSOR or t1.kind != L.TENSOR or t0.or_flat or t1.or_flat:
            continue
        rank = L.rank_of(t0)
        if rank is not None and L.rank_of(t1) is None and t1.perm is None and t0.channels_last:
            # torch order at a rank known at run time only (tokens on the last stage,
            # a map before the others): moved where it has the rank it entered with
            out.append((name, t1, t0))
            continue
        if rank is None or rank != L.rank_of(t1) or t0.perm == t1.perm \
                or (L.is_identity(t0.perm) and L.is_identity(t1.perm)):
            continue
        out.append((name, t1, t0))
    return {"body": out} if out else {}


def loop_end(rw, updated, moves: dict):
    """``updated`` (a ``for``/``while``) with its body ending in ``moves``' transposes."""
    stmts = [_statement(rw, name, frm, to, guarded=L.rank_of(frm) is None) for name, frm, to in moves.get("body", ())]
    if not stmts:
        return updated
    return updated.with_changes(body=_appended(updated.body, stmts))


def _statement(rw, name: str, frm: L.Tag, to: L.Tag, guarded: bool = False) -> cst.SimpleStatementLine:
    rank = len(frm.perm) if frm.perm is not None else len(to.perm)
    node = cst.Name(name)
    rw.set(node, frm)
    # a value maybe flattened already keeps its mark: to torch order through torch_order
    keep = frm.or_flat and to.perm is None
    if guarded:  # moved only at ``to``'s rank (any_rank.guarded)
        value = rw.to_layout(node, frm, to, guarded=True)
        return cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], value)])
    value = rw.to_layout(node, frm.with_(or_flat=keep), to if to.perm is not None else L.plain(rank))
    return cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], value)])


def _appended(block: cst.BaseSuite, stmts: list) -> cst.BaseSuite:
    if isinstance(block, cst.SimpleStatementSuite):
        block = cst.IndentedBlock([cst.SimpleStatementLine(list(block.body))])
    return block.with_changes(body=list(block.body) + stmts)


def apply(rw, original: cst.If, updated: cst.If, moves: dict) -> cst.If:
    """``updated`` with each branch ending in the transposes ``moves`` asks of it."""
    if not moves:
        return updated
    names = sorted({m[0] for ms in moves.values() for m in ms})
    verb = "leaves" if len(names) == 1 else "leave"
    rw.info(original, f"{', '.join(names)} {verb} the branches of this if in different layouts: "
                      f"transposed to one at the end of each")
    stmts = {label: [_statement(rw, *m) for m in ms] for label, ms in moves.items()}
    if "body" in stmts:
        updated = updated.with_changes(body=_appended(updated.body, stmts["body"]))
    if "else" in stmts:
        orelse = updated.orelse
        if orelse is None:
            orelse = cst.Else(cst.IndentedBlock(stmts["else"]))
        elif isinstance(orelse, cst.If):  # elif: becomes else: if ..., then the transposes
            orelse = cst.Else(cst.IndentedBlock([orelse] + stmts["else"]))
        else:
            orelse = orelse.with_changes(body=_appended(orelse.body, stmts["else"]))
        updated = updated.with_changes(orelse=orelse)
    if "before" in stmts:
        updated = updated.with_changes(orelse=cst.Else(cst.IndentedBlock(stmts["before"])))
    return updated
