"""Modules handed in, used as sequences.

Builders take a model and take it apart (torchvision's detection and
segmentation builders: ``backbone = backbone.features``, then
``enumerate(backbone)``, ``len(backbone)``, ``backbone[i].out_channels``,
``backbone[:k]``). Where the translator cannot see what the value holds -- an
attribute of a model of another file, of a parameter annotated ``nn.Module`` --
torch's Sequential may be an nnx.Sequential, whose layers are in ``.layers``:
the use reads it at run time (``module_sequence(m)``, ``module_item(m, i)``).

Parameters annotated with translated classes (``backbone: MobileNetV3``,
``Union[mobilenet.MobileNetV2, mobilenet.MobileNetV3]``) hold those classes'
instances, so their attributes are modules of unknown kind, not tensors.
"""

from __future__ import annotations

import libcst as cst

from . import layout as L
from .context import UNKNOWN_MODULE, ModuleRef
from .imports import dotted
from .layout import Tag

_UNIONS = ("Union", "typing.Union", "Optional", "typing.Optional")
_CLASS_KINDS = ("class", "container-class", "stateless-class")


def _annotation_classes(node, f):
    """The translated classes an annotation names (None and Optional allowed),
    or None when it names anything else."""
    if isinstance(node, cst.Name) and node.value == "None":
        return []
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        left, right = _annotation_classes(node.left, f), _annotation_classes(node.right, f)
        return None if left is None or right is None else left + right
    if isinstance(node, cst.Subscript) and dotted(node.value) in _UNIONS:
        out = []
        for el in node.slice:
            if not isinstance(el.slice, cst.Index):
                return None
            part = _annotation_classes(el.slice.value, f)
            if part is None:
                return None
            out += part
        return out
    name = dotted(node) if isinstance(node, (cst.Name, cst.Attribute)) else None
    if name is None:
        return None
    if name in f.classes or f.external.get(name) in _CLASS_KINDS:
        return [name]
    return None


def annotated_module_tags(func: cst.FunctionDef, f) -> dict:
    """Parameter -> module tag, for parameters annotated with translated classes."""
    tags = {}
    for param in list(func.params.params) + list(func.params.kwonly_params):
        if param.annotation is None:
            continue
        classes = _annotation_classes(param.annotation.annotation, f)
        if not classes:
            continue
        refs = tuple(ModuleRef("class", cls=c) for c in dict.fromkeys(classes))
        tags[param.name.value] = Tag(L.MODULE, module=refs[0] if len(refs) == 1 else ModuleRef("union", elements=refs))
    return tags


def _opaque(f, m) -> bool:
    """A module whose attributes the translator cannot list."""
    if m is None or m.kind == "unknown":
        return True
    if m.kind == "class":
        return m.cls not in f.classes
    if m.kind == "union":
        return any(_opaque(f, e) for e in m.elements if isinstance(e, ModuleRef))
    return False


def attribute_module(rw, bt: Tag):
    """``model.features`` read (not called, not written) on a module whose
    attributes are unknown: a module of unknown kind, or None."""
    if bt.kind == L.MODULE and _opaque(rw.f, bt.module):
        return Tag(L.MODULE, module=UNKNOWN_MODULE)
    return None


def may_be_sequential(rw, node) -> bool:
    """``node`` holds a module that may be an nnx.Sequential at run time."""
    t = rw.tag(node)
    return t.kind == L.MODULE and _opaque(rw.f, t.module)


def sequence(rw, node):
    """``module_sequence(node)``: its layers if an nnx.Sequential at run time."""
    helper = rw.build_ctx.helper("module_sequence")
    return rw.set(cst.Call(func=cst.Name(helper), args=[cst.Arg(node)]), rw.tag(node))


def item(rw, updated: cst.Subscript):
    """``node[i]`` -> ``module_item(node, i)``; None where not applicable."""
    if len(updated.slice) != 1 or not may_be_sequential(rw, updated.value):
        return None
    sl = updated.slice[0].slice
    if isinstance(sl, cst.Slice):
        index = cst.Call(func=cst.Name("slice"), args=[
            cst.Arg(b if b is not None else cst.Name("None")) for b in (sl.lower, sl.upper, sl.step)])
    else:
        index = sl.value
    helper = rw.build_ctx.helper("module_item")
    return rw.set(cst.Call(func=cst.Name(helper), args=[cst.Arg(updated.value), cst.Arg(index)]),
                  Tag(L.MODULE, module=UNKNOWN_MODULE))


def keyed_maps(updated: cst.Subscript) -> bool:
    """``features["out"]`` on what the layout engine holds as a tensor: a module of
    unknown class passed its input's layout through (the contract: translated
    modules take and return channels-last maps), and it returned a dict of maps
    (torchvision's IntermediateLayerGetter). No tensor takes a string index, so
    the entry is a map in that layout."""
    if len(updated.slice) != 1 or not isinstance(updated.slice[0].slice, cst.Index):
        return False
    return isinstance(updated.slice[0].slice.value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString))


_DICTS = ("dict", "Dict", "OrderedDict", "Mapping", "MutableMapping")


def dict_of_tensors(node, f) -> bool:
    """``Dict[str, Tensor]``: a parameter holding named maps (torchvision's
    segmentation heads and FPN take their backbone's features so). Left
    undecided like an unannotated tensor, so ``input["low"]`` (keyed_maps) reaching
    a spatial layer takes the maps channels-last, as the translated module handing
    them returns them."""
    if not (isinstance(node, cst.Subscript) and len(node.slice) == 2):
        return False
    head = dotted(node.value)
    value = node.slice[1].slice
    if head is None or head.rpartition(".")[2] not in _DICTS or not isinstance(value, cst.Index):
        return False
    return f.imports.qualify(value.value) == "torch.Tensor"


def dict_values(rw, recv_tag: Tag, call: cst.Call):
    """``features.values()`` on what the layout engine holds as a tensor: no
    tensor method ``values`` takes no argument and is used on dense maps, so the
    value is a dict of maps (see keyed_maps) and this is the sequence of its
    maps, each in the layout the dict came with (torchvision's FPN:
    ``x = list(x.values())``). None where not applicable."""
    if call.args or recv_tag.kind not in (L.TENSOR, L.FREE):
        return None
    if recv_tag.kind == L.FREE:
        return rw.set(call, Tag(L.SEQ, param=recv_tag.param))
    return rw.set(call, recv_tag.with_(kind=L.SEQ))


def listed(rw, call: cst.Call, name: str):
    """``list(maps)`` / ``tuple(maps)`` of a sequence of maps: the same maps."""
    if name not in ("list", "tuple") or len(call.args) != 1 or call.args[0].star or call.args[0].keyword:
        return None
    t = rw.tag(call.args[0].value)
    return rw.set(call, t) if t.kind == L.SEQ else None


_SEQUENCES = ("List", "list", "Sequence", "Tuple", "tuple", "Iterable")


def sequence_of_tensors(node, f) -> bool:
    """``List[Tensor]`` (also ``Optional[...]``, ``Sequence[Tensor]``,
    ``Tuple[Tensor, ...]``): a parameter holding several maps."""
    while isinstance(node, cst.Subscript) and dotted(node.value) in ("Optional", "typing.Optional") \
            and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        node = node.slice[0].slice.value
    if not isinstance(node, cst.Subscript):
        return False
    head = dotted(node.value)
    if head is None or head.rpartition(".")[2] not in _SEQUENCES:
        return False
    parts = [el.slice for el in node.slice]
    if not all(isinstance(p, cst.Index) for p in parts):
        return False
    values = [p.value for p in parts]
    if len(values) == 2 and head.rpartition(".")[2] in ("Tuple", "tuple") \
            and isinstance(values[1], cst.Ellipsis):
        values = values[:1]
    return len(values) == 1 and f.imports.qualify(values[0]) == "torch.Tensor"


def annotated_sequences(func: cst.FunctionDef, f, tags: dict) -> None:
    """Parameters annotated as lists of tensors are sequences of maps: the tag a
    caller hands (the layout of its maps) becomes a sequence's, so ``x[-1]`` is a
    map in that layout and ``x.append(y)`` a list's (torchvision's
    ``LastLevelMaxPool(x: List[Tensor], ...)``)."""
    for param in list(func.params.params) + list(func.params.kwonly_params):
        name = param.name.value
        if param.annotation is None or not sequence_of_tensors(param.annotation.annotation, f):
            continue
        t = tags.get(name)
        if t is None or t.kind == L.FREE:
            tags[name] = Tag(L.SEQ, param=name)
        elif t.kind == L.TENSOR:
            tags[name] = t.with_(kind=L.SEQ)
