"""What a layer builder of another file returns, known to its importers.

timm builds most of its convs through ``create_conv2d`` (one file), which
returns ``nn.Conv2d``, ``Conv2dSame`` (another file), ``MixedConv2d`` or
``CondConv2d``. A class of a third file holding ``self.conv = create_conv2d(...)``
(``ConvNormAct``) used to see an unknown module: its input stayed undecided, so
code after it (``x.split(n, dim=1)`` in a CSP stage) read a channels-last tensor
in torch order. A file of a run now exports what each of its builders returns
(rows travel by name, see ``Rule.__reduce__``), the classes in it named by their
module, so the importer reaches their layout summaries (and hands them hints)
as for classes it imports itself.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePath
from typing import Optional

from . import layout as L
from .context import FileContext, ModuleRef


def _this_module(f: FileContext) -> Optional[str]:
    pkg = f.options.package
    if not pkg:
        return None
    stem = PurePath(f.path).stem
    return pkg if stem == "__init__" else f"{pkg}.{stem}"


def _qualify(f: FileContext, ref: ModuleRef, here: Optional[str]) -> Optional[ModuleRef]:
    """``ref`` with every class named by its original module, or None where one
    cannot be named (then nothing is exported: unknown stays unknown)."""
    if ref is None:  # a container's layer the analysis could not type (ssdlite's heads)
        return None
    if ref.kind == "class":
        cls = ref.cls or ""
        if cls in f.classes:
            return replace(ref, cls=f"{here}.{cls}") if here else None
        if cls in f.external:
            head, _, rest = cls.partition(".")
            q = f.imports.names.get(head)
            if q is None:
                return None
            return replace(ref, cls=f"{q}.{rest}" if rest else q)
        if "." in cls and cls.rpartition(".")[0] in (f.options.siblings or {}):
            return ref  # named by its module already (reached through a builder this file imports)
        return None
    if ref.kind == "layer":
        return ref if ref.rule is not None else None
    if ref.kind in ("union", "sequential", "list", "factory"):
        elems = []
        for e in ref.elements:
            q = _qualify(f, e, here)
            if q is None:
                return None
            elems.append(q)
        return replace(ref, elements=tuple(elems))
    return None


def exported_builder_returns(f: FileContext, picklable) -> dict:
    """{builder name: Tag of the module it returns} for importers."""
    here = _this_module(f)
    out = {}
    for (owner, name), tag in f.builder_returns.items():
        if owner is not None or name not in f.builders or tag is None or tag.kind != L.MODULE \
                or tag.module is None:
            continue
        ref = _qualify(f, tag.module, here)
        if ref is None:
            continue
        new = L.Tag(L.MODULE, module=ref)
        if picklable(new):
            out[name] = new
    return out


def exported_function_summary(f: FileContext, s):
    """A plain function's summary as importers read it: the classes in the module
    or class it returns named by their module (efficientnet_pytorch's
    ``get_same_padding_conv2d`` returns one of two conv classes of its file)."""
    ret = s.returns
    if ret is None or ret.kind != L.MODULE or ret.module is None:
        return s
    ref = _qualify(f, ret.module, _this_module(f))
    return s if ref is None else replace(s, returns=ret.with_(module=ref))


def import_function_summary(f: FileContext, local: str, summary, siblings: dict) -> None:
    """Bind a sibling's plain function and the layouts of the classes it returns."""
    ret = summary.returns
    if ret is not None and ret.kind == L.MODULE and ret.module is not None:
        _bind_classes(f, ret.module, siblings)
    f.external_functions[local] = summary


def _bind_classes(f: FileContext, ref: ModuleRef, siblings: dict) -> None:
    for c in _class_refs(ref):
        m, _, cname = (c.cls or "").rpartition(".")
        sib = siblings.get(m) or ()
        sums = sib[2] if len(sib) > 2 else {}
        if sums.get(cname) is not None:
            f.external_summaries.setdefault(c.cls, sums[cname])


def _class_refs(ref: ModuleRef):
    if ref.kind == "class":
        yield ref
    for e in ref.elements:
        yield from _class_refs(e)


def import_builder_return(f: FileContext, local: str, mod: str, name: str, siblings: dict) -> None:
    """Bind what builder ``name`` of sibling module ``mod`` (imported as ``local``)
    returns; the classes in it get their layout summaries."""
    entry = siblings.get(mod) or ()
    rets = entry[5] if len(entry) > 5 else None
    tag = (rets or {}).get(name)
    if tag is None:
        return
    _bind_classes(f, tag.module, siblings)
    f.external_builder_returns[local] = tag


def qualified_owner(owner, siblings) -> bool:
    """A class named by its module (reached through an imported builder)."""
    return isinstance(owner, str) and "." in owner and owner.rpartition(".")[0] in (siblings or {})
