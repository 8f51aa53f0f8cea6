"""Control-flow joins of the layout dataflow, knowing which branches end.

A branch that ends in ``return`` or ``raise`` never reaches the code after its
``if``: its environment must not be joined into what follows (timm's
``fast_rms_norm2d`` permutes ``x`` inside ``if has_apex: ...; return x``, and the
join made the later ``rms_norm2d(x)`` transpose a value that was never
permuted). A branch that ends in ``continue`` or ``break`` leaves the ``if`` for
the loop's head or its end: its environment joins there, not into the rest of
the body.

The state: a stack of (environment before the statement, environments of its
finished live branches); ``self._ended`` says whether the current straight-line
code can still fall through; loops keep a stack of environments leaving their
body early.
"""

from __future__ import annotations

from . import layout as L


class BranchEnvsMixin:
    """Used by the body rewriter: ``self.env`` maps names to tags, ``self.resolve``
    reads a tag through the parameters decided so far."""

    _ended = False

    def _branch_stacks(self):
        if not hasattr(self, "_envs"):
            self._envs = []
            self._loop_exits = []
            self._def_ended = []

    def _push_env(self):
        self._branch_stacks()
        self._envs.append((dict(self.env), [], [False]))

    def _branch_env(self):
        """The ``else`` of an ``if`` starts: the body's environment is finished."""
        before, done, has_else = self._envs[-1]
        has_else[0] = True
        if not self._ended:
            done.append(dict(self.env))
        self._ended = False
        self.env = dict(before)

    def _pop_env(self, loop=False):
        """Join the branches of the statement ending here. For an ``if``, returns the
        transposes each branch needs at its end, by branch: ``{"body" | "orelse" |
        "else": [(name, axes)]}`` ("else" is the missing else, to be written)."""
        before, done, has_else = self._envs.pop()
        branches = list(done)
        labels = ["body"] * len(done)  # _branch_env keeps only the body's environment
        if not self._ended:
            branches.append(dict(self.env))
            labels.append("orelse" if has_else[0] else "body")
        if loop:
            # the body may run no time, or leave early (break / continue)
            branches.append(before)
            branches += self._loop_exits.pop()
            self._ended = False
        elif not has_else[0]:
            branches.append(before)  # the branch may not run
            labels.append("else")
        if not branches:
            # every branch returned or raised: what follows is unreachable
            self.env = before
            self._ended = True
            return {}
        self._ended = False
        moves: dict = {}
        self.env = self._join_envs(branches, None if loop else labels, moves)
        return moves

    def _join_envs(self, branches, labels=None, moves=None):
        merged = {}
        for name in sorted(set().union(*branches)):
            # a parameter decided in a branch is that layout in every branch
            tags = [self.resolve(b[name]) for b in branches if name in b]
            if labels is not None and moves is not None:
                held = self._held_apart([(lab, self.resolve(b[name])) for lab, b in zip(labels, branches)
                                         if name in b])
                if held is not None:
                    merged[name], per_branch = held
                    for lab, axes in per_branch:
                        moves.setdefault(lab, []).append((name, axes))
                    continue
            t = tags[0]
            for o in tags[1:]:
                t = L.join(t, o)
            merged[name] = t
        return merged

    @staticmethod
    def _held_apart(tagged):
        """One name held in different orders by the branches of an ``if`` (an image
        channels-last on one path, in torch order or a token tensor made from it on
        the other, as timm's MetaFormer stages): no one tag says what the value is
        after the join, and code after it would read one path's data in the other's
        order. Branches of one rank with an image among them agree on channels-last
        (the others transpose to it, as callers do in ``layout.merge_callers``);
        otherwise every branch holding it permuted moves it to torch's order and
        after the join it is plain. Returns (the joined tag, [(branch, axes)])."""
        if len(tagged) < 2 or any(t.kind != L.TENSOR or t.weight or t.or_flat for _, t in tagged):
            return None
        perms = {None if L.is_identity(t.perm) else tuple(t.perm) for _, t in tagged}
        if len(perms) < 2:
            return None
        ranks = {L.rank_of(t) for _, t in tagged}
        rank = ranks.pop() if len(ranks) == 1 else None
        image = next((t for _, t in tagged if L.is_image_layout(t)), None)
        if rank is not None and image is not None:
            want = L.channels_last(rank)
            moves = [(lab, L.transpose_axes(t.perm, want.perm, rank)) for lab, t in tagged
                     if (None if t.perm is None else tuple(t.perm)) != want.perm]
            return want.with_(one=all(t.one for _, t in tagged)), moves
        moves = [(lab, L.transpose_axes(t.perm, None, len(t.perm))) for lab, t in tagged
                 if not L.is_identity(t.perm)]
        return L.plain(rank), moves

    # --- what ends a branch ---------------------------------------------------
    def end_branch(self):
        """After ``return`` / ``raise``: the rest of this block never runs."""
        self._ended = True

    def leave_loop_early(self):
        """After ``continue`` / ``break``: the environment goes to the loop."""
        self._branch_stacks()
        if self._loop_exits and not self._ended:
            self._loop_exits[-1].append(dict(self.env))
        self._ended = True

    def enter_loop(self):
        self._branch_stacks()
        self._loop_exits.append([])

    def enter_nested_def(self):
        """A nested ``def``'s returns end its own body, not the enclosing one."""
        self._branch_stacks()
        self._def_ended.append((self._ended, self._loop_exits))
        self._loop_exits = []
        self._ended = False

    def leave_nested_def(self):
        self._ended, self._loop_exits = self._def_ended.pop()

    def resume_block(self):
        """An ``except`` handler, or the code after a ``try``: reachable even when
        the ``try`` body returned (to be safe, whatever its handlers do)."""
        self._ended = False
