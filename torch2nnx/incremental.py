"""Runs that translate a few stale files of a large tree.

A file is translated after the run's files it imports, reading their classes,
builders and layout summaries; and when its importers hand its classes
layouts their first translation did not take, it is translated a second time
(project.run). Translating one edited file used to translate every file it
imports, transitively, and every file importing those again: a tree's
``__init__.py`` importing each model made that the whole tree (40 s for
torchvision's 61 files, to check one edit).

Here an up-to-date file the stale ones import brings its last translation's
results from the cache instead (cache.Cache.result: valid while it and
everything it imports, transitively, are unchanged): the first pass's
result, and the second pass's with the hints it had. A run then computes
what a run without the cache would: the first pass sees first-pass results,
the importers' hints are merged over all files in the order a full run
translates them, and a file's second pass is reused only when it gets the
same hints and none of the files it imports is translated again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Reused:
    first: object  # TranslateResult of the first pass
    final: object | None  # of the second pass, if the last run made one
    hints: dict | None  # what that second pass was handed


def closures(deps: dict) -> dict:
    """Each module's imports of the run, transitively."""
    out: dict = {}
    for m in deps:
        seen: set = set()
        stack = list(deps[m])
        while stack:
            d = stack.pop()
            if d in seen or d not in deps:
                continue
            seen.add(d)
            stack.extend(deps[d])
        seen.discard(m)
        out[m] = seen
    return out


def needed(todo: set, chosen: set, outcomes: dict, by_mod: dict, sources: dict, cache):
    """(the files to translate, {module: Reused}): the stale files, and every
    other file of the run whose results the cache does not hold. A run without
    the cache translates them all, and all of them hand their imports layouts
    (an up-to-date file's hints to a module the stale one imports too count)."""
    from .project import UNCHANGED

    need = set(todo)
    reused: dict = {}
    for d in sorted(chosen - todo):
        if d not in outcomes or outcomes[d].status != UNCHANGED:
            continue
        rec = cache.result(by_mod[d], sources[d], sources) if cache is not None else None
        if rec is not None and rec[0] is not None:
            reused[d] = Reused(*rec)
        else:
            need.add(d)
    return need, reused


def next_level(remaining: set, deps: dict, cyclic: set, order: dict) -> list:
    """The files translated next: every one whose imports are done; in an
    import cycle, the first file of the first group."""
    level = sorted(m for m in remaining if not (deps[m] & remaining))
    if not level:
        level = [min((m for m in remaining if m in cyclic), key=lambda m: (order[m], m))]
    return level


def full_order(results: dict, deps: dict) -> dict:
    """``results`` in the order a run translating all of them makes them."""
    from .project import dependency_levels

    mods = set(results)
    groups = dependency_levels({m: deps[m] & mods for m in mods})
    cyclic = {m for g in groups if len(g) > 1 for m in g}
    order = {m: i for i, g in enumerate(groups) for m in g}
    remaining = set(mods)
    out: dict = {}
    while remaining:
        for m in next_level(remaining, deps, cyclic, order):
            remaining.discard(m)
            out[m] = results[m]
    return out


def kept_second_passes(again: set, deps: dict, reused: dict, hints: dict) -> set:
    """The files of ``again`` whose cached second pass is what translating them
    again would give: handed the same hints, importing no file translated again."""
    from .project import dependency_levels

    kept: set = set()
    for group in dependency_levels({m: deps[m] & again for m in again}):
        if len(group) > 1:
            continue  # an import cycle: translated again
        m = group[0]
        rec = reused.get(m)
        if rec is None or rec.final is None or rec.hints != hints.get(m):
            continue
        if all(d in kept for d in deps[m] & again):
            kept.add(m)
    return kept


class Unchanged:
    """Whether what a module reads of the run's files it imports (their classes,
    builders, layout summaries, layer types) is what its first pass read: then
    its second pass would give its first pass's result again."""

    def __init__(self, firsts: dict, results: dict, deps: dict, registering: dict):
        self.firsts, self.results, self.deps, self.registering = firsts, results, deps, registering
        self.memo: dict = {}

    def read(self, r):
        from .translator.rounds import freeze

        return freeze((r.exports, r.summaries, r.function_summaries, r.rngs_methods, r.builder_returns,
                       r.weight_maps))

    def same(self, d) -> bool:
        if d not in self.memo:
            a, b = self.firsts.get(d), self.results.get(d)
            self.memo[d] = a is b or (a is not None and b is not None and self.read(a) == self.read(b))
        return self.memo[d]

    def __call__(self, m) -> bool:
        reads = set(self.deps[m]) | set(self.registering.get(m) or ())
        return all(self.same(d) for d in reads)
