"""Members of a Sequential built with names, read as attributes.

``self.head = nn.Sequential(OrderedDict([('global_pool', pool), ('norm', norm), ...]))``
then ``self.head.global_pool(x)`` (timm's MetaFormer heads, which call the layers of
the Sequential one by one): the attribute is the layer built under that name, so
it is handed and gives the layouts that layer has, as a layer read from
``self`` would be. The same for an OrderedDict filled item by item with literal
keys (``layers["conv"] = ...``). A member rebound in a method
(``self.head.norm = nn.Identity()`` in ``reset_classifier``) may hold either layer.
"""

from __future__ import annotations

import dataclasses

import libcst as cst

from . import layout as L
from .context import ModuleRef


def ordered_dict_names(nodes):
    """``OrderedDict([(name, layer), ...])``: the literal names, None where computed."""
    lst = nodes[0].args[0].value
    return tuple(e.value.elements[0].value.evaluated_value
                 if isinstance(e.value.elements[0].value, cst.SimpleString) else None
                 for e in lst.elements)


def item_name(target: cst.Subscript):
    """``layers["conv"]``: "conv", else None."""
    if len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index) \
            and isinstance(target.slice[0].slice.value, cst.SimpleString):
        return target.slice[0].slice.value.evaluated_value
    return None


def member(m: ModuleRef, name: str):
    """The layer a named Sequential holds under ``name``, else None."""
    if m is None or m.kind != "sequential" or not m.names or len(m.names) != len(m.elements):
        return None
    if m.names.count(name) != 1:
        return None
    return m.elements[m.names.index(name)]


def _either(a: ModuleRef, b: ModuleRef) -> ModuleRef:
    if a == b:
        return a
    elems = (a.elements if a.kind == "union" else (a,))
    for e in (b.elements if b.kind == "union" else (b,)):
        if e not in elems:
            elems += (e,)
    return ModuleRef("union", elements=elems)


def _holder(rw, node):
    """``self.head``: "head" (an attribute of the class being rewritten), else None."""
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self" \
            and rw.cls is not None:
        return node.attr.value
    return None


def note_member_write(rw, target, vt) -> None:
    """``self.head.norm = layer`` in any method: the member ``norm`` of the named
    Sequential ``self.head`` may hold ``layer`` too (anything, when not a known
    layer). Kept on the class, so every method reading it knows, whichever order
    they are rewritten in."""
    if not isinstance(target, cst.Attribute):
        return
    holder = _holder(rw, target.value)
    if holder is None:
        return
    new = vt.module if vt.kind == L.MODULE and vt.module is not None else ModuleRef("unknown")
    key = (holder, target.attr.value)
    old = rw.cls.member_writes.get(key)
    rw.cls.member_writes[key] = new if old is None or new.kind == "unknown" or old.kind == "unknown" \
        else _either(old, new)


def member_read(rw, base, bt, name: str):
    """``self.head.norm`` read: the layer the named Sequential holds under that
    name (with what methods write there), else None."""
    if bt.kind != L.MODULE:
        return None
    m = member(bt.module, name)
    if m is None:
        return None
    holder = _holder(rw, base)
    written = rw.cls.member_writes.get((holder, name)) if holder is not None else None
    if written is None:
        return m
    return written if written.kind == "unknown" else _either(m, written)
