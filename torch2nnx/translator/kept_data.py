"""torch data pipelines kept as torch code.

``torch.utils.data`` (Dataset, TensorDataset, DataLoader, samplers,
random_split) and torchvision's transforms and datasets load and prepare data;
they are not model code. A call of them is left exactly as written, its
arguments too (``TensorDataset(torch.randn(16, 4), ...)`` feeds a kept torch
object, so it stays torch), its import stays, and no TODO marks it. Where a
batch from such an object enters translated code -- the iterable of a ``for``
loop, ``iter(loader)`` -- the batch is converted once, by the runtime helper
``from_torch_batches`` (tensors in nested tuples, lists and dicts become jax
arrays).
"""

from __future__ import annotations

import re

import libcst as cst

from . import layout as L
from .imports import kept_module

KEPT_TAG = L.Tag(L.OTHER, torch_data=True)

# a parameter so named is taken to be a data loader: `def train(model, loader, opt)`
_LOADER_NAME = re.compile(r"(^|_)(data)?loader$|^dataloader")
# calls that hand on the items of the iterable they take first
_PASS_THROUGH = ("enumerate", "zip", "iter", "tqdm")


def is_kept_call(rw, node: cst.Call) -> bool:
    """A call of a kept torch data API (``DataLoader(...)``) or of one of the
    file's Dataset subclasses. torch.manual_seed is script code's: in a
    model class it stays unsupported."""
    if rw.cls is not None and rw.f.imports.qualify(node.func) == "torch.manual_seed":
        return False
    return is_kept_callee(rw.f, node.func)


def is_kept_callee(f, func) -> bool:
    q = f.imports.qualify(func)
    return kept_module(q) or q == "torch.manual_seed" or (isinstance(func, cst.Name) and func.value in f.kept_classes)


def keeps_torch(f) -> bool:
    """The file keeps torch data code (it imports a kept module)."""
    return any(kept_module(q) for q in f.imports.names.values()) or bool(f.kept_classes)


def seeds_itself(func: cst.FunctionDef, f) -> bool:
    """A function whose own body (not a branch of it) calls torch.manual_seed:
    it draws from the stream it seeds (manual_seed below), so its callers
    need hand it none."""
    for st in func.body.body:
        if isinstance(st, cst.SimpleStatementLine) and len(st.body) == 1 and isinstance(st.body[0], cst.Expr) \
                and isinstance(st.body[0].value, cst.Call) \
                and f.imports.qualify(st.body[0].value.func) == "torch.manual_seed":
            return True
    return False


def manual_seed(rw, updated: cst.SimpleStatementLine):
    """``torch.manual_seed(s)`` as a statement: it seeds what the translation
    draws from, ``rngs = nnx.Rngs(s)`` (the stream the model constructions
    after it use: a function's own ``rngs``, or the module-level one), and
    still seeds torch where the file keeps torch data code (shuffling loaders,
    random transforms). None for other statements."""
    if len(updated.body) != 1 or not isinstance(updated.body[0], cst.Expr):
        return None
    call = updated.body[0].value
    if rw.cls is not None or not (isinstance(call, cst.Call) and rw.f.imports.qualify(call.func) == "torch.manual_seed"
            and len(call.args) == 1 and call.args[0].keyword is None and not call.args[0].star):
        return None
    rw.seeds_rngs = True
    seed = cst.Module([]).code_for_node(call.args[0].value)
    assign = cst.parse_statement(f"rngs = nnx.Rngs({seed})").body[0]
    # one line of two statements (the formatter splits it): a module-level statement
    # is rewritten on its own and must stay one node
    return updated.with_changes(body=[assign] + (list(updated.body) if keeps_torch(rw.f) else []))


def kept_classes(module: cst.Module, f) -> set[str]:
    """The file's classes derived from a kept torch data class (``Dataset``,
    ``Sampler``), or from another such class of the file: kept as written."""
    found: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and stmt.name.value not in f.classes \
                and any(is_kept_callee(f, b.value) or (isinstance(b.value, cst.Name) and b.value.value in found)
                        for b in stmt.bases):
            found.add(stmt.name.value)
    return found


def loader_params(params) -> set[str]:
    return {p for p in params if _LOADER_NAME.search(p)}


def note_params(rw, node: cst.FunctionDef) -> None:
    """The parameters of a function that are data loaders: annotated with a
    kept torch data type, or named like one (``loader``, ``train_loader``)."""
    found = set()
    params = node.params
    for p in list(params.posonly_params) + list(params.params) + list(params.kwonly_params):
        ann = p.annotation.annotation if p.annotation is not None else None
        if (ann is not None and kept_module(rw.f.imports.qualify(ann))) or _LOADER_NAME.search(p.name.value):
            found.add(p.name.value)
    rw._data_params.append(found)


def kept_globals(module: cst.Module, f) -> set[str]:
    """Module-level names bound to a kept torch data object only
    (``loader = DataLoader(...)`` in a script's top-level code)."""
    kept, other = set(), set()
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign):
                names = {t.target.value for t in small.targets if isinstance(t.target, cst.Name)}
                value = small.value
                ok = isinstance(value, cst.Call) and is_kept_callee(f, value.func)
                (kept if ok else other).update(names)
    return kept - other


def is_data_source(rw, node) -> bool:
    if rw.tag(node).torch_data:
        return True
    if not isinstance(node, cst.Name) or rw.tag(node).kind == L.MODULE:
        return False
    if rw._data_params and node.value in rw._data_params[-1]:
        return True
    # a script's module-level loader, read where no local binds the name
    return node.value in rw.f.kept_globals and node.value not in rw.env


def converted(rw, node):
    """``node`` iterated so that its batches are jax arrays, or None where it
    yields no batches of a kept torch data object."""
    if is_data_source(rw, node):
        helper = rw.build_ctx.helper("from_torch_batches")
        args = [cst.Arg(node)]
        ranks = channels_last_ranks(rw.f)
        if ranks:
            args.append(cst.Arg(cst.parse_expression(repr(ranks)), keyword=cst.Name("channels_last"),
                                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))))
        return cst.Call(func=cst.Name(helper), args=args)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in _PASS_THROUGH:
        args = list(node.args)
        changed = False
        for i, a in enumerate(args):
            if a.keyword is None and not a.star and (i == 0 or node.func.value == "zip"):
                inner = converted(rw, a.value)
                if inner is not None:
                    args[i] = a.with_changes(value=inner)
                    changed = True
        return node.with_changes(args=args) if changed else None
    return None


def channels_last_ranks(f) -> tuple[int, ...]:
    """The ranks at which the file's models take their input channels-last
    (the layout line: ``Takes x as (N, H, W, C) where torch takes (N, C, H,
    W)``): a floating batch tensor of such a rank is moved to channels-last as
    it is converted. Labels (integer tensors) and tensors of other ranks stay
    as they are."""
    ranks = set()
    for info in f.classes.values():
        s = info.methods.get("__call__")
        params = [p for p in (s.params if s is not None else []) if p != "self"]
        t = s.takes.get(params[0]) if params else None
        if t is not None and t.channels_last and t.perm is not None:
            ranks.add(len(t.perm))
    return tuple(sorted(ranks))
