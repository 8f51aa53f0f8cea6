"""Rounds that settle: what callers hand a parameter, widened once it oscillates.

A file is rewritten in rounds until what callers hand callees stops changing
(module.py). Some files never got there: a block taking an image batch from one
stage and, behind a flag, tokens from the same call site, read through a
Flatten-or-Identity head (timm's MetaFormer) made a parameter flip between torch
order and channels-last each round, and the round limit stopped the loop on
whichever reading it had reached. The last round's callers then read layouts
their callees' code did not produce: a caller transposed a map it took for torch
order, a channel norm ran on the wrong axis.

Widening, as abstract interpretation does it: a parameter whose callers hand it
a layout it was already handed in an earlier round (a cycle, not progress) gets
from then on the merge of everything it was handed (``merge_callers``: an image
layout wins over torch order, different ranks make it mixed), merged again with
each later round's callers. Merging only moves up, so the hint stops changing
and the rounds reach a fixed point. Files that converge without it are not
touched: only a revisited value widens.
"""

from __future__ import annotations

from . import layout as L

# rounds a file may take once a hint was widened, past the usual limit
EXTRA_ROUNDS = 3


def _merged(values: list) -> object:
    out = None
    for v in values:
        out = L.merge_callers(out, v) if isinstance(v, L.Tag) and (out is None or isinstance(out, L.Tag)) else v
    if isinstance(out, L.Tag) and out.kind == L.TENSOR:
        # `one` (spatial dims known to be 1) is a fact of one value, true of the
        # parameter only when every caller's value had it
        out = out.with_(one=all(getattr(v, "one", False) for v in values))
    return out


class Settle:
    """History of call-site hints over rounds, and the keys widened for good."""

    def __init__(self):
        self.history: dict[tuple, list] = {}
        self.widened: dict[tuple, object] = {}

    def widen(self, callsites: dict, hints: dict) -> bool:
        """Widen ``callsites`` (this round's, in place) where a key oscillates;
        True when any key was widened this round."""
        any_new = False
        for key, value in list(callsites.items()):
            seen = self.history.setdefault(key, [])
            if key in self.widened:
                value = callsites[key] = _merged([self.widened[key], value])
                self.widened[key] = value
            elif value != hints.get(key) and value in seen[:-1]:
                # back to a value of an earlier round: a cycle
                value = callsites[key] = _merged(seen + [value])
                self.widened[key] = value
                any_new = True
            if not seen or seen[-1] != value:
                seen.append(value)
        for key, value in self.widened.items():
            callsites.setdefault(key, value)  # a caller that stopped calling keeps its hint
        return any_new
