"""A tensor whose layout a flag chooses, between two ``if``s testing that flag.

timm's MetaFormer stage and MaxViT block test one flag twice, around code that
takes the tensor as it is::

    if not self.use_nchw:
        x = x.reshape(B, C, -1).transpose(1, 2)   # tokens (B, N, C)
    x = self.blocks(x)                            # blocks built for either
    if not self.use_nchw:
        x = x.transpose(1, 2).reshape(B, C, H, W)

The join after the first ``if`` (branch_layouts.py) brought ``x`` to one layout
(torch order when the ranks differ, channels-last when they agree): the blocks
were then handed a transposed image where they take tokens or the NHWC tensor,
and the second ``if`` read that layout as the one its own branch left.

Now, when a later ``if`` of the same block tests the same flag (or its
negation), the first join leaves ``x`` split: its tag (kind ``split``) keeps
the layout each value of the flag leaves it in. A flag is stable: ``self``'s
attributes and parameters the function never assigns, constants, ``not``,
``and``/``or`` and comparisons of those. A module or function that takes its
input as it is (its parameter undecided, its result that parameter's layout)
is handed the value untouched, and learns both layouts as its callers' (the
callee sees each flag's tensor). The later ``if`` on the flag starts each branch
with the layout that value of the flag left, and joins as any other ``if``.
Any other read of a split value gets it in one layout through a conditional
expression on the flag (``(jnp.transpose(x, ...) if not self.use_nchw else x)``):
more transposes, never a wrong axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import libcst as cst

from . import any_rank, branch_layouts, flag_classes
from . import layout as L


@dataclass(frozen=True)
class FlagSplit:
    """The layouts of one value under a flag: ``when_true`` where ``test`` holds."""

    test: str  # source of the flag's test, without leading ``not``
    when_true: L.Tag
    when_false: L.Tag

    def alt(self, value: bool) -> L.Tag:
        return self.when_true if value else self.when_false


def join_splits(a: L.Tag, b: L.Tag) -> L.Tag:
    """Two paths each leaving a value split on the same flag (``if self.attn_block
    is not None: x = self.attn_block(x)``, x split before and after): split still,
    each side the join of that side's layouts (unknown where they disagree)."""
    sa, sb = a.module, b.module
    if not (is_split(a) and is_split(b)) or sa.test != sb.test:
        return L.Tag(L.UNKNOWN)
    sides = [L.join(x, y) for x, y in ((sa.when_true, sb.when_true), (sa.when_false, sb.when_false))]
    if any(s.kind == L.UNKNOWN for s in sides):
        return L.Tag(L.UNKNOWN)
    return L.Tag(L.SPLIT, module=FlagSplit(sa.test, *sides))


def is_split(t: Optional[L.Tag]) -> bool:
    return t is not None and t.kind == L.SPLIT and isinstance(t.module, FlagSplit)


def _code(node) -> str:
    return cst.Module([]).code_for_node(node)


# --- stable tests ------------------------------------------------------------


class _Stores(cst.CSTVisitor):
    """Names and ``self`` attributes a function assigns."""

    def __init__(self):
        self.names: set[str] = set()
        self.attrs: set[str] = set()

    def _target(self, t):
        if isinstance(t, cst.Name):
            self.names.add(t.value)
        elif isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
            self.attrs.add(t.attr.value)
        elif isinstance(t, (cst.Tuple, cst.List)):
            for e in t.elements:
                self._target(e.value)
        elif isinstance(t, cst.StarredElement):
            self._target(t.value)

    def visit_AssignTarget(self, node):
        self._target(node.target)

    def visit_AugAssign(self, node):
        self._target(node.target)

    def visit_AnnAssign(self, node):
        self._target(node.target)

    def visit_For(self, node):
        self._target(node.target)

    def visit_AsName(self, node):
        self._target(node.name)

    def visit_NamedExpr(self, node):
        self._target(node.target)


def _stores(rw) -> _Stores:
    s = getattr(rw, "_flag_stores", None)
    if s is None:
        s = _Stores()
        if rw.root is not None:
            rw.root.visit(s)
        rw._flag_stores = s
    return s


def _stable(rw, node, stores: _Stores) -> bool:
    if isinstance(node, cst.Name):
        if node.value in ("True", "False", "None"):
            return True
        return node.value in rw.summary.params and node.value != "self" and node.value not in stores.names
    if isinstance(node, cst.Attribute):
        base = node
        while isinstance(base.value, cst.Attribute):
            base = base.value
        return isinstance(base.value, cst.Name) and base.value.value == "self" and "self" not in stores.names \
            and base.attr.value not in stores.attrs
    if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString)):
        return True
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
        return _stable(rw, node.expression, stores)
    if isinstance(node, cst.BooleanOperation):
        return _stable(rw, node.left, stores) and _stable(rw, node.right, stores)
    if isinstance(node, cst.Comparison):
        return _stable(rw, node.left, stores) and all(_stable(rw, c.comparator, stores) for c in node.comparisons)
    return False


def _strip(test) -> tuple:
    pol = True
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, pol = test.expression, not pol
    return (test.with_changes(lpar=[], rpar=[]) if getattr(test, "lpar", None) else test), pol


def test_key(rw, test) -> Optional[tuple[str, bool]]:
    """(the flag's source without leading ``not``, whether the test is the flag
    itself) for a stable test, else None."""
    atom, pol = _strip(test)
    if isinstance(atom, (cst.Integer, cst.Float, cst.SimpleString)) \
            or isinstance(atom, cst.Name) and atom.value in ("True", "False", "None"):
        return None  # a constant, no flag
    if not _stable(rw, atom, _stores(rw)):
        return None
    return _code(atom), pol


def _retested(rw) -> set[int]:
    """Ids of the ``if`` statements of this function followed, in their block, by
    another ``if`` on the same flag."""
    got = getattr(rw, "_flag_retested", None)
    if got is not None:
        return got
    got = set()

    class _Blocks(cst.CSTVisitor):
        def visit_IndentedBlock(self, node):
            seen: dict[str, list] = {}
            for st in node.body:
                if isinstance(st, cst.If):
                    k = test_key(rw, st.test)
                    if k is not None:
                        seen.setdefault(k[0], []).append(st)
            for ifs in seen.values():
                got.update(id(s) for s in ifs[:-1])

    if rw.root is not None:
        rw.root.visit(_Blocks())
    rw._flag_retested = got
    return got


# --- the join that splits, the if that restores --------------------------------


def split_join(rw, original: cst.If, moves: dict) -> dict:
    """After the join of ``original`` (an ``if``/``else`` of two live branches, or
    an ``if`` whose skipped path joins): the values ``moves`` would bring to one
    layout stay split when a later ``if`` tests the same flag. Returns the moves
    left to make."""
    if not moves or isinstance(original.orelse, cst.If):
        return moves
    key = test_key(rw, original.test)
    labels = set(moves)
    other = "before" if "before" in labels or original.orelse is None else "else"
    if key is None or not labels <= {"body", other}:
        return moves
    atom, pol = key
    names = sorted({m[0] for ms in moves.values() for m in ms})
    sides = {}
    for name in names:
        agreed = rw.env.get(name)
        if agreed is None:
            return moves
        by = {}
        for label in ("body", other):
            found = [m for m in moves.get(label, []) if m[0] == name]
            own = getattr(rw, "joined_sides", {}).get(label, {}).get(name)
            by[label] = found[0][1] if found else (rw.resolve(own) if own is not None else agreed)
        sides[name] = (by["body"], by[other]) if pol else (by[other], by["body"])
    left: dict = {}
    if id(original) not in _retested(rw):
        # no later test of the flag: only values the flag gives two ranks stay split
        # (LeViT's ``if not self.use_conv: x = x.flatten(2).transpose(1, 2)`` before
        # stages built for either): no one layout holds both, and a module taking the
        # map channels-last takes the tokens as they are (by_rank)
        names = [n for n in names if None not in (ranks := {L.rank_of(t) for t in sides[n]}) and len(ranks) == 2]
        if not names:
            return moves
        left = {label: kept for label, ms in moves.items() if (kept := [m for m in ms if m[0] not in names])}
    for name in names:
        rw.env[name] = L.Tag(L.SPLIT, module=FlagSplit(atom, *sides[name]))
    rw.info(original, f"{', '.join(names)} {'leaves' if len(names) == 1 else 'leave'} this if in the layout "
                      f"each value of the flag gives, until the flag is tested again")
    return left


def restore(rw, node: cst.If) -> None:
    """At the start of an ``if`` on a flag that split values: each branch (and the
    path skipping the body) starts with the layout that value of the flag left."""
    key = test_key(rw, node.test)
    if key is None or not rw._envs:
        return
    atom, pol = key
    before = rw._envs[-1][0]
    for name, t in list(rw.env.items()):
        if is_split(t) and t.module.test == atom:
            rw.env[name] = t.module.alt(pol)
            before[name] = t.module.alt(not pol)


# --- reads of a split value ----------------------------------------------------


def _target(split: FlagSplit) -> L.Tag:
    """One layout for both sides: the join's choice when they hold the same
    logical tensor (the same axis roles), else torch order, the one layout in
    which each side means what torch's does (``x.permute(0, 2, 3, 1)`` on one
    side only: channels-last of the other side's image is not this one's)."""
    a, b = split.when_true, split.when_false
    if a == b:
        return a
    if a.roles is not None and a.roles == b.roles:
        want = branch_layouts._target([a, b])
        if want is not None:
            return want
    return L.plain()


def _conditional(rw, node, split: FlagSplit, tos):
    """``(node in tos[0] if flag else node in tos[1])``, or ``node`` when neither moves."""
    sides = []
    for alt, to in zip((split.when_true, split.when_false), tos):
        rank = L.rank_of(alt)
        if alt.kind != L.TENSOR or rank is None or to is None or (alt.perm is None and to.perm is None):
            sides.append(node)
            continue
        sides.append(rw.to_layout(node, alt, to))
    if all(s is node for s in sides):
        return node
    return cst.IfExp(test=cst.parse_expression(split.test), body=sides[0], orelse=sides[1],
                     lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def as_is(rw, node, t: L.Tag):
    """A split value handed to code taking it as it is: each side held in a
    permutation no image has (lazily transposed tokens) goes in torch order, as
    held_permutations.to_undecided does for one value. Returns (node, tag)."""
    split: FlagSplit = t.module
    tos = []
    for alt in (split.when_true, split.when_false):
        moved = alt.kind == L.TENSOR and alt.channels_last and not L.is_image_layout(alt)
        tos.append(L.plain(len(alt.perm)) if moved else None)
    if all(to is None for to in tos):
        return node, t
    new = _conditional(rw, node, split, tos)
    t = L.Tag(L.SPLIT, module=FlagSplit(split.test, *(to or alt for to, alt in
                                                       zip(tos, (split.when_true, split.when_false)))))
    rw.set(new, t)
    return new, t


def materialize(rw, node, t: L.Tag, want: Optional[L.Tag] = None):
    """``node`` (tagged split ``t``) in one layout: ``want`` when given, else the
    one a join would have chosen. Returns (node, tag)."""
    split: FlagSplit = t.module
    want = want if want is not None and want.kind == L.TENSOR else _target(split)
    tos = [want if want.perm is None or len(want.perm) == L.rank_of(alt) else L.plain(L.rank_of(alt))
           for alt in (split.when_true, split.when_false) if True]
    new = _conditional(rw, node, split, tos)
    rw.set(new, want)
    return new, want


def read(rw, original: cst.Name, updated: cst.Name, t: L.Tag):
    """A name holding a split value read where the reader does not take it as it
    is: the value in one layout."""
    rw.set(updated, t)
    if id(original) in getattr(rw, "_split_args", ()):
        return updated
    new, _ = materialize(rw, updated, t)
    return new


def returned(rw, original, t: L.Tag) -> L.Tag:
    """``return x``, ``x`` split with sides of two ranks (LeViT's ``forward_features``:
    the map, or its tokens under ``not self.use_conv``), read in torch order: the
    function's result has no one rank (layout.Tag.ranks_vary), so a function its
    callers hand it to takes it in torch order, as the callers hold it, never
    channels-last at a rank one side lacks. Only a returned value: within the
    function the split is tested again or handed on as it is."""
    if not isinstance(original, cst.Name) or t.kind != L.TENSOR or t.perm is not None:
        return t
    split = rw.env.get(original.value)
    if not is_split(split):
        return t
    ranks = {L.rank_of(alt) if alt.kind == L.TENSOR else None for alt in (split.module.when_true,
                                                                         split.module.when_false)}
    if len(ranks) != 2 or None in ranks:
        return t
    return t.with_(rank=None, roles=None, one=False, ranks_vary=True)


def note_args(rw, call: cst.Call) -> None:
    """``f(x)`` / ``self.layer(x)`` with ``x`` split: the call decides (through /
    through_summary) whether it takes ``x`` as it is."""
    for a in call.args:
        if not a.star and isinstance(a.value, cst.Name) and is_split(rw.env.get(a.value.value)):
            if not hasattr(rw, "_split_args"):
                rw._split_args = set()
            rw._split_args.add(id(a.value))


def _record(rw, t: L.Tag, record) -> None:
    for alt in (t.module.when_true, t.module.when_false):
        if alt.kind in (L.TENSOR, L.SEQ):
            record(alt)


def _class_as_is(rw, cls: str):
    """(summary, first parameter) of a class taking its input as it is, else None."""
    info = rw.f.classes.get(cls)
    s = info.methods.get("__call__") if info else rw.f.external_summaries.get(cls)
    params = [p for p in s.params if p != "self"] if s is not None else []
    if not params:
        return None
    want, ret = s.takes.get(params[0]), s.returns
    if want is None and ret is None:
        return params[0]  # not summarised yet (an early round)
    if (want is None or want.kind not in (L.TENSOR, L.SEQ)) and ret is not None \
            and ret.kind == L.FREE and ret.param == params[0]:
        return params[0]
    return None


def through_union(rw, call: cst.Call, t: L.Tag, m):
    """``self.slot(x)``, the slot one of several classes (timm's ``partition_layer =
    PartitionAttention2d if nchw else PartitionAttentionCl``), ``x`` split: which
    class is built is checked at run time (union_dispatch.py); a class taking its
    input as it is gets the split value, another each side brought to what it
    takes, its result brought back to the sides' layouts. None when it does not
    apply (a layer among the candidates, results of another rank)."""
    from . import union_dispatch

    classes = [e for e in m.elements if e.kind == "class"]
    if len(classes) != len(m.elements) or not all(union_dispatch._nameable(rw, e.cls) for e in classes) \
            or not isinstance(call.func, (cst.Name, cst.Attribute)):
        return None
    chosen = flag_classes.sides(rw, t.module.test, [e.cls for e in classes])
    if chosen is not None:
        return _through_chosen(rw, call, t, classes, chosen)
    first = call.args[0]
    parts = []
    for e in classes:
        p = _class_as_is(rw, e.cls)
        if p is not None:
            node, tag = as_is(rw, first.value, t)
            _record(rw, tag, lambda alt: rw.f.record_call(e.cls, "__call__", p, alt))
            parts.append((e.cls, call.with_changes(args=[first.with_changes(value=_bare(rw, node))]
                                                   + list(call.args[1:])), tag))
            continue
        node, tag = materialize(rw, first.value, t, _class_takes(rw, e.cls))
        node, out = rw.through_module(_bare(rw, node), tag, e)
        parts.append((e.cls, call.with_changes(args=[first.with_changes(value=node)] + list(call.args[1:])), out))
    splits = [tag for _, _, tag in parts if is_split(tag)]
    result = splits[0] if splits else None
    if result is None or any(is_split(o) and o != result for _, _, o in parts):
        return None
    code_parts = []
    for cls, node, out in parts:
        if not is_split(out):
            sides = (result.module.when_true, result.module.when_false)
            if out.kind != L.TENSOR or any(L.rank_of(a) != L.rank_of(out) for a in sides):
                return None
            rw.set(node, out)
            node = _conditional(rw, node, FlagSplit(result.module.test, out, out), sides)
        code_parts.append((cls, node))
    slot = _code(call.func)
    cls, expr_ = code_parts[-1]
    out_node = expr_
    for cls, node in reversed(code_parts[:-1]):
        out_node = cst.IfExp(test=cst.parse_expression(f"isinstance({slot}, {cls})"), body=node, orelse=out_node)
    rw.info(call, "a value the flag gives two layouts, handed to the class the slot holds at run time")
    return rw.set(out_node, result)


def _through_chosen(rw, call: cst.Call, t: L.Tag, classes, chosen: dict):
    """``self.slot(x)``, the slot's class picked by the flag ``x`` is split on
    (flag_classes.py): each class handed (and told) only its own side; the
    result split alike."""
    split: FlagSplit = t.module
    first = call.args[0]
    nodes, outs = {}, {}
    for e in classes:
        value = chosen[e.cls]
        side = split.alt(value)
        node = first.value
        rw.set(node, side)
        nodes[value], outs[value] = rw.through_module(node, side, e)
    rw.set(first.value, t)
    arg = _conditional_nodes(nodes[True], nodes[False], split.test)
    new = call.with_changes(args=[first.with_changes(value=arg)] + list(call.args[1:]))
    rw.info(call, "the flag that picked the slot's class gives its input's layout: each class takes its own")
    return rw.set(new, L.Tag(L.SPLIT, module=FlagSplit(split.test, outs[True], outs[False])))


def _conditional_nodes(when_true, when_false, test: str):
    if _code(when_true) == _code(when_false):
        return when_true
    return cst.IfExp(test=cst.parse_expression(test), body=when_true, orelse=when_false)


def _class_takes(rw, cls: str):
    info = rw.f.classes.get(cls)
    s = info.methods.get("__call__") if info else rw.f.external_summaries.get(cls)
    params = [p for p in s.params if p != "self"] if s is not None else []
    want = s.takes.get(params[0]) if params else None
    return want if want is not None and want.kind == L.TENSOR else None


def by_rank(rw, node, t: L.Tag, want, ret, callee=None):
    """A split value whose sides differ in rank (an image map under one value of
    the flag, its (B, N, C) tokens under the other: timm's MetaFormer stage, LeViT's
    ``use_conv``) handed to a module summarised as taking and returning the
    map channels-last: the map's side goes in channels-last, the other side as
    torch has it. Tokens keep their channels last, which is where the module's
    channel ops read them (and the runtime helpers check ranks), so the module's
    one translation holds for both; the result stays split, the tokens' side of
    the rank it came in. Returns (node, tag), or None when it does not apply."""
    split: FlagSplit = t.module
    if want is None or want.kind != L.TENSOR or not want.channels_last or ret is None \
            or ret.kind != L.TENSOR or ret.perm != want.perm:
        return None
    rank = len(want.perm)
    sides = (split.when_true, split.when_false)
    ranks = [L.rank_of(a) if a.kind == L.TENSOR else None for a in sides]
    if None in ranks or rank not in ranks or all(r == rank for r in ranks):
        return None
    new = _conditional(rw, node, split, [want if r == rank else L.plain(r) for r in ranks])
    if callee is not None:
        any_rank.mark_refs(rw, [callee])
    tag = L.Tag(L.SPLIT, module=FlagSplit(split.test, *(ret if r == rank else L.plain(r) for r in ranks)))
    rw.info(node, "a value the flag gives two ranks: the map goes in channels-last, the tokens as they are")
    rw.set(new, tag)
    return new, tag


def through(rw, node, t: L.Tag, m):
    """``self.layer(x)`` with ``x`` split: handed as it is to a module taking its
    input as it is (its callers' layouts recorded, the result split alike);
    else brought to one layout first. Returns (node, tag, taken as it is)."""
    if m is not None and m.kind == "class":
        info = rw.f.classes.get(m.cls)
        s = info.methods.get("__call__") if info else rw.f.external_summaries.get(m.cls)
        params = [p for p in s.params if p != "self"] if s is not None else []
        if params:
            want = s.takes.get(params[0])
            ret = s.returns
            if (ranked := by_rank(rw, node, t, want, ret, m)) is not None:
                return _bare(rw, ranked[0]), ranked[1], True
            if (want is None or want.kind not in (L.TENSOR, L.SEQ)) and ret is not None \
                    and ret.kind == L.FREE and ret.param == params[0]:
                node, t = as_is(rw, node, t)
                _record(rw, t, lambda alt: rw.f.record_call(m.cls, "__call__", params[0], alt))
                return _bare(rw, node), t, True
            if want is None and ret is None:
                # not summarised yet (an early round): as it is, callers recorded
                node, t = as_is(rw, node, t)
                _record(rw, t, lambda alt: rw.f.record_call(m.cls, "__call__", params[0], alt))
                return _bare(rw, node), t, True
    if m is not None and m.kind == "sequential":
        want, ret = m.takes, m.returns
        if want is None and ret is None and m.elements:
            want, ret = rw._fold_refs(list(m.elements))
        if (want is None or want.kind not in (L.TENSOR, L.SEQ)) and ret is None:
            node, t = as_is(rw, node, t)
            _record(rw, t, lambda alt: rw._record_through(alt, m.elements))
            return _bare(rw, node), t, True
        if (ranked := by_rank(rw, node, t, want, ret, m)) is not None:
            return _bare(rw, ranked[0]), ranked[1], True
    new, tag = materialize(rw, node, t)
    return _bare(rw, new), tag, False


def through_summary(rw, value, t: L.Tag, want, record) -> tuple:
    """A split argument of a function summarised as ``want`` for that parameter:
    (value, tag, as_is)."""
    if want is None or want.kind not in (L.TENSOR, L.SEQ):
        value, t = as_is(rw, value, t)
        _record(rw, t, record)
        return _bare(rw, value), t, True
    new, tag = materialize(rw, value, t, want)
    return _bare(rw, new), tag, False


def _bare(rw, node):
    """A conditional handed as an argument needs no parentheses of its own."""
    if isinstance(node, cst.IfExp) and node.lpar:
        t = rw.tag(node)
        node = node.with_changes(lpar=[], rpar=[])
        rw.set(node, t)
    return node
