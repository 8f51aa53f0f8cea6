"""Calls handing on a value of the caller's own undecided parameter, recorded
once the caller knows that parameter's layout.

timm's RDNet ``DenseStage.forward``::

    features = [init_feature]
    for module in self:
        new_feature = module(features)   # DenseBlock: x = torch.cat(x, 1)
        features.append(new_feature)
    return torch.cat(features, 1)

When ``module(features)`` is met, ``init_feature`` is undecided (the final
``torch.cat`` decides it channels-last), so the call recorded "a list of
``init_feature``": a name of the caller's that means nothing to the callee,
which read it as a list in torch order and concatenated the maps' widths.
Such records wait for the end of the caller's rewriting and are made with the
parameter's layout as decided by then (as they were, if it stays undecided).
"""

from __future__ import annotations

from . import layout as L


def defers(tag) -> bool:
    """A tag standing for (a list of) the caller's undecided parameter."""
    return getattr(tag, "kind", None) in (L.FREE, L.SEQ) and getattr(tag, "param", None) is not None \
        and getattr(tag, "perm", None) is None


def begin(rw) -> None:
    """A function's rewriting starts (one that ``finish`` ends): its deferred
    records go to a list of its own."""
    rw._deferred_calls = []
    rw.f.deferred_calls.append(rw._deferred_calls)


def finish(rw) -> None:
    """The function's parameters are decided: its deferred calls are recorded
    (never deferred again: an enclosing function's parameter of the same name
    is another value)."""
    own = rw._deferred_calls
    if own is None:
        return
    rw._deferred_calls = None
    outer = [d for d in rw.f.deferred_calls if d is not own]
    rw.f.deferred_calls = []
    try:
        for owner, func, param, tag in own:
            rw.f.record_call(owner, func, param, rw.resolve(tag))
    finally:
        rw.f.deferred_calls = outer
