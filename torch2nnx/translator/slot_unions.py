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
a conditional expression's value already was. Not a slot holding translated
classes and several layers: it keeps the last assignment.
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
        kinds = [e.kind for e in tag.module.elements]
        if "class" in kinds and len(kinds) - kinds.count("class") > 1:
            # classes and several layers (timm's SelectAdaptivePool2d: an Identity, adaptive
            # pools and pooling classes by pool type, handed an undecided parameter): the
            # slot stays as the last path set it
            continue
        if rw.cls.attrs.get(key[len(_PREFIX):]) != tag.module:
            rw.cls.attrs[key[len(_PREFIX):]] = tag.module
