"""torch.autograd.Function subclasses (efficientnet_pytorch's memory-efficient
Swish, pytorchcv's Binarize and covariance pooling): the class keeps its
``forward(ctx, ...)`` and ``backward(ctx, ...)`` and takes the runtime's
``TorchFunction`` as its base, whose ``apply`` is a ``jax.custom_vjp`` running
them (runtime/autograd_functions.py), so gradients are the hand-written ones.

Layout: backward is written for the layouts forward was handed, which the
translator cannot follow through ``ctx``; so ``Cls.apply(...)`` hands its
arguments in torch order, and forward is summarised like a function of the file
(its result's rank and layout known to the caller, never an unknown value that a
channels-last operand would silently be broadcast against)."""

from __future__ import annotations

import dataclasses

import libcst as cst

from . import layout as L
from .context import request_helper

BASES = frozenset({"torch.autograd.Function", "torch.autograd.function.Function"})


def find(module: cst.Module, f) -> dict[str, cst.ClassDef]:
    """The file's autograd Function classes, by name."""
    return {s.name.value: s for s in module.body if isinstance(s, cst.ClassDef)
            and any(f.imports.qualify(b.value) in BASES for b in s.bases)}


def summary_key(name: str) -> str:
    """The name forward is summarised under (an identifier: hints are keyed by it)."""
    return f"_{name}_apply"


def rewrite(f, stmt: cst.ClassDef) -> cst.ClassDef:
    from .classes import rewrite_function
    from .function_rewriter import FunctionRewriter

    body = []
    for s in stmt.body.body:
        if isinstance(s, cst.FunctionDef) and s.name.value == "forward":
            key = summary_key(stmt.name.value)
            fn, summary = rewrite_function(f, s.with_changes(name=cst.Name(key)), None,
                                           kind="function", needs_rngs=False)
            # callers bind apply's arguments to the parameters after ctx
            f.functions[key] = dataclasses.replace(summary, params=summary.params[1:])
            body.append(fn.with_changes(name=s.name))
        else:
            body.append(FunctionRewriter(f, None, "<module>", [], {}).walk(s))
    base = request_helper(f, "TorchFunction")
    bases = [b.with_changes(value=cst.Name(base)) if f.imports.qualify(b.value) in BASES else b
             for b in stmt.bases]
    return stmt.with_changes(bases=bases, body=stmt.body.with_changes(body=body))


def applied(rw, original: cst.Call, updated: cst.Call):
    """``Cls.apply(...)`` of an autograd Function of the file: its arguments in
    torch order, its result as forward's summary says; None for other calls."""
    func = updated.func
    if not (isinstance(func, cst.Attribute) and func.attr.value == "apply" and isinstance(func.value, cst.Name)
            and func.value.value in rw.f.autograd_functions):
        return None
    key = summary_key(func.value.value)
    summary = rw.f.functions.get(key)
    args = []
    for i, a in enumerate(updated.args):
        t = rw.tag(a.value)
        if not a.star and (t.channels_last or (t.kind == L.TENSOR and t.perm is not None)):
            a = a.with_changes(value=rw.canonical(a.value, "value handed to an autograd Function"))
        if summary is None and t.kind == L.TENSOR and a.keyword is None and not a.star:
            # defined further down: known next round; record what callers hand
            rw.f.record_call(None, key, f"#{i + 1}", L.plain(L.rank_of(t)))
        args.append(a)
    updated = updated.with_changes(args=args)
    if summary is None:
        return rw.set(updated, L.UNKNOWN_TAG)
    return rw.call_summary(updated, summary, fname=key)
