"""Module slots set on different paths of an ``if``: either layer, a union.

timm's FastViT::

    if layer_scale_init_value is not None:
        self.layer_scale = LayerScale2d(dim, layer_scale_init_value)
    else:
        self.layer_scale = nn.Identity()

Before, the slot was the layer of the last assignment met (the ``Identity``),
so ``forward``'s ``self.layer_scale(x)`` never told ``LayerScale2d`` what its
callers hand it: the class kept torch's order for a channels-last image, its
``(C, 1, 1)`` scale broadcast against the width. Now each assignment of a
module to ``self.<name>`` is also kept in the branch environments (under a key
no Python name can be), and where the paths of an ``if`` join, a slot holding
different layers on different paths is the union of them (``layout.join``), as
a conditional expression's value already was.

A slot holding translated classes beside several layers is a union too
(timm's SelectAdaptivePool2d: an Identity, adaptive pools, and pooling classes
whose reduced dims ``__init__`` computes from a format string). It used to
keep the last assignment (an adaptive pool), so the classes never learned
that they are handed a channels-last image: taken as they are, their
``x.mean(self.dim)`` reduced torch's dims (2, 3) of the NHWC array, silently
(TResNet's 'fast' head pooled H and C). Now each class learns its callers'
layout (a computed dim then reads the image in torch order) and the slot's
result is brought to one layout, as for any union.
"""

from __future__ import annotations

from . import layout as L

_PREFIX = "self."  # a key no local name can be


def note(rw, name: str, tag: L.Tag) -> None:
    """``self.<name> = <module>`` on the current path."""
    if tag.kind == L.MODULE and tag.module is not None:
        rw.env[_PREFIX + name] = tag


def joined(rw) -> None:
    """After an ``if``'s paths joined: slots holding a union of what the paths set."""
    if rw.cls is None:
        return
    for key, tag in rw.env.items():
        if not key.startswith(_PREFIX) or tag.kind != L.MODULE or tag.module is None:
            continue
        if tag.module.kind != "union":
            continue
        if rw.cls.attrs.get(key[len(_PREFIX):]) != tag.module:
            rw.cls.attrs[key[len(_PREFIX):]] = tag.module
