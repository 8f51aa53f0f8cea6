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

from . import branch_layouts
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
            done.append(("body", dict(self.env)))
        self._ended = False
        self.env = dict(before)

    def _pop_env(self, loop=False):
        """Join the branches of the statement that ends. For an ``if``: the
        transposes each live branch needs at its end so that a tensor leaves every
        branch in one layout, {"body" | "else" | "before": [(name, from, to)]}
        (``before``: the ``if`` has no ``else``, one must be added)."""
        before, done, has_else = self._envs.pop()
        labelled = list(done)
        if not self._ended:
            labelled.append(("else" if has_else[0] else "body", dict(self.env)))
        if loop:
            # the body may run no time, or leave early (break / continue)
            exits = self._loop_exits.pop()
            moves = {}
            if not self._ended and not exits:
                # a tensor carried to the next iteration leaves the body in the layout it
                # entered it with: the body was rewritten for that one
                moves = branch_layouts.carried(before, self.env, self.resolve)
                for name, frm, want in moves.get("body", ()):
                    # (moved only at its rank: after the loop it is what the body made it)
                    if L.rank_of(frm) is not None:
                        self.env[name] = want
            branches = [e for _, e in labelled if not moves] + ([dict(self.env)] if moves else []) \
                + [before] + exits
            self._ended = False
            if branches:
                self.env = self._join_envs(branches)
            return moves
        if not has_else[0]:
            labelled.append(("before", before))  # the branch may not run
        if not labelled:
            # every branch returned or raised: what follows is unreachable
            self.env = before
            self._ended = True
            return {}
        self._ended = False
        moves, agreed = branch_layouts.agree(labelled, self.resolve)
        self.joined_sides = dict(labelled)  # each branch's own tags (flag_splits.split_join)
        self.env = self._join_envs([e for _, e in labelled])
        self.env.update(agreed)
        return moves

    def _join_envs(self, branches):
        merged = {}
        for name in set().union(*branches):
            # a parameter decided in a branch is that layout in every branch
            tags = [self.resolve(b[name]) for b in branches if name in b]
            t = tags[0]
            for o in tags[1:]:
                t = L.join(t, o)
            merged[name] = t
        return merged

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

    def in_loop(self) -> bool:
        """Inside a loop body (false where no branch was ever met: the stacks
        are set up lazily, and a BufferRewriter never sets them up)."""
        return bool(getattr(self, "_loop_exits", None))

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
