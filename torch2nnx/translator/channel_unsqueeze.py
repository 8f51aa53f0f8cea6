"""A channel put back where it was picked out of an image batch.

``torch.unsqueeze(x[:, 0], 1)`` (GoogLeNet's and Inception v3's
``_transform_input`` scale each input channel and concatenate them again):
``x[:, 0]`` of a channels-last batch is an (N, H, W) map whose axes are known
to be the batch and the spatial axes (its roles); unsqueezing it at torch's
channel position makes a one-channel image batch. Taken channels-last, that is
``jnp.expand_dims(t, -1)``: the concatenation on dim 1 that follows stays on
the last axis and no transpose is needed (before, the map was read in torch
order and every branch of the model's input transposed back and forth).
"""

from __future__ import annotations

from . import layout as L

UNSQUEEZE_ROWS = ("torch.unsqueeze", "Tensor.unsqueeze")


def apply(rw, rule, args, name_nodes):
    """The rewritten call and its channels-last tag, or None when the idiom does not apply."""
    if rule.name not in UNSQUEEZE_ROWS or "input" not in name_nodes or args.lit("dim") != 1:
        return None
    t = rw.tag(name_nodes["input"])
    roles = t.roles
    if t.kind != L.TENSOR or not L.is_identity(t.perm) or roles is None or len(roles) < 2:
        return None
    if roles != ("N",) + tuple(f"S{i}" for i in range(len(roles) - 1)):
        return None
    rank = len(roles) + 1
    return rw.set(rw.built(f"jnp.expand_dims({args.src('input')}, -1)"), L.channels_last(rank))
