"""Layer slots holding a reshape or a layer that keeps the layout, chosen at run
time: timm's ``self.flatten = nn.Flatten(1) if flatten else nn.Identity()``
(``SelectAdaptivePool2d``, ``NormMlpClassifierHead``, model heads).

Handed a channels-last image batch, the two disagree: the Flatten reshapes
torch's order, so it needs the map transposed back to (N, C, H, W); the Identity
returns the map, which under the output contract stays channels-last (callers
hand it on to a 1x1 conv classifier, a norm, code the translator cannot see).
Transposing for both (what folding the union as a list did) returned the
Identity's map in torch's order to callers expecting channels-last.

- spatial dims known to be 1 (after a global pooling): a reshape of the
  channels-last map is torch's reshape, no transpose for either;
- otherwise the runtime helper ``reshape_or_pass`` transposes only for a layer
  that changes the rank.

Either way the result is tagged channels-last ``or_flat``: the Identity's map is
channels-last, and a flattened (N, C) has its channels last too (a channel
``dim=1`` maps to the last axis, the batch stays first); code wanting torch's
order (a Linear, a Flatten, code the translator cannot see) gets it through the
runtime helper ``torch_order``, which transposes only an array of the tagged rank.
"""

from __future__ import annotations

from . import layout as L
from .context import ModuleRef
from .layout import Tag


def _kind(ref: ModuleRef):
    if ref.kind != "layer" or ref.rule is None:
        return None
    return getattr(ref.layout or ref.rule.layout, "kind", None)


def reshape_or_pass(ref: ModuleRef) -> bool:
    """A union of layers: reshapes (Flatten) and layout-keeping (Identity,
    activations, dropout) ones, at least one of each, nothing else."""
    if ref.kind != "union" or not ref.elements:
        return False
    kinds = [_kind(e) for e in ref.elements]
    return "reshape" in kinds and "elementwise" in kinds and set(kinds) <= {"reshape", "elementwise"}


def applies(ref: ModuleRef, t: Tag, updated) -> bool:
    """``self.flatten(x)`` with ``self.flatten`` such a union and ``x`` a channels-last tensor."""
    if not reshape_or_pass(ref) or not (t.kind == L.TENSOR and t.channels_last) or len(updated.args) != 1:
        return False
    a = updated.args[0]
    return a.keyword is None and not a.star


def call(rw, updated, t: Tag):
    """The rewritten call and its tag (``rw``: the FunctionRewriter)."""
    from .body_support import code, expr

    out = t.with_(or_flat=True)
    if t.one:
        # (N, 1, 1, C) reshapes to torch's (N, C): no transpose for either layer
        return rw.set(updated, out)
    axes = L.transpose_axes(t.perm, None, len(t.perm))
    rw.transposes += 1
    x = updated.args[0].value
    helper = rw.build_ctx.helper("reshape_or_pass")
    new = expr(f"{helper}({code(updated.func)}, {code(x)}, {axes})")
    rw.info(x, "a reshape or a layout-keeping layer, chosen at run time: the reshape sees torch's order")
    return rw.set(new, out)
