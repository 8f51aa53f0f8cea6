"""A torch layer's weight read off the NNX layer that holds it in another order.

``fc.weight`` of an ``nn.Linear`` is ``(out, in)``; the NNX layer's ``kernel`` is
``(in, out)``. A Conv's ``weight`` ``(O, I, *K)`` is NNX's ``(*K, I, O)``. Code
that reads the weight in torch terms (``fc.weight.shape[0]``, ``w[:, :3]``,
``F.linear(x, fc.weight)``, ``w.sum(1)``) reads the kernel, tagged with the
permutation the weights module applies when it ports the weight: the layout
analysis then remaps dims, sizes and slices onto the kernel's axes, and hands
torch's order to what needs it, exactly as for a channels-last activation.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

from . import layout as L


def _entry(rule, torch_name: str):
    maps = rule.weights if isinstance(rule.weights, tuple) else ((rule.weights,) if rule.weights else ())
    for w in maps:
        for e in w.entries:
            if e.torch_name == torch_name:
                return e
    return None


def kernel_perm(rule, torch_name: str) -> Optional[tuple[int, ...]]:
    """``perm`` (physical axis -> torch axis) of the NNX array holding
    ``rule``'s torch parameter ``torch_name``; None when it keeps torch's order
    or its rank is not known from the row."""
    e = _entry(rule, torch_name)
    if e is None:
        return None
    if e.transform == "linear_kernel":
        return (1, 0)
    if e.transform == "conv_kernel":
        rank = getattr(rule.layout, "rank", None)
        if rule.layout.kind != "spatial" or rank is None:
            return None
        return tuple(range(2, rank)) + (1, 0)
    return None


def weight_tag(rules, torch_name: str) -> L.Tag:
    """The tag of ``layer.<torch_name>`` read on a layer built by one of ``rules``:
    the kernel's permutation when every rule agrees on it, else a plain tensor
    (a Linear-or-Conv receiver whose weight is only filled or scaled)."""
    perms = {kernel_perm(r, torch_name) for r in rules if r is not None}
    if len(perms) == 1:
        perm = perms.pop()
        if perm is not None:
            return L.Tag(L.TENSOR, perm=perm, rank=len(perm), weight=True)
    return L.plain()


@lru_cache(maxsize=1)
def renamed_torch_params() -> frozenset[str]:
    """torch parameter and buffer names that some NNX layer holds under another name
    (``weight`` is a Linear's ``kernel``, ``running_mean`` a BatchNorm's ``mean``)."""
    from ..rules import registry

    names = set()
    for rule in registry.all_rules():
        w = rule.weights
        for m in (w if isinstance(w, (tuple, list)) else (w,) if w is not None else ()):
            names.update(e.torch_name for e in m.entries if e.torch_name != e.nnx_name and "." not in e.nnx_name)
    return frozenset(names)


@lru_cache(maxsize=1)
def kept_torch_params() -> frozenset[str]:
    """torch parameter names every NNX layer holding them keeps (``bias``)."""
    from ..rules import registry

    names = set()
    for rule in registry.all_rules():
        w = rule.weights
        for m in (w if isinstance(w, (tuple, list)) else (w,) if w is not None else ()):
            names.update(e.torch_name for e in m.entries if "." not in e.torch_name)
    return frozenset(names - renamed_torch_params())


@lru_cache(maxsize=1)
def renamed_torch_attrs() -> frozenset[str]:
    """torch hyperparameter attributes (``out_channels``, ``stride``, ``eps``) that some
    NNX layer holds under another name or in another form (the rows' ``attrs``)."""
    from ..rules import registry

    return frozenset(t for rule in registry.all_rules() for t, n in rule.attrs if t != n)
