"""The layout line of a translated class's docstring (the output contract): a
class whose ``__call__`` takes or returns channels-last arrays where torch's
forward takes or returns channels-first ones says so, from the same summary
``verify`` reads (``TranslateResult.layout_of``)::

    Takes x as (N, H, W, C) where torch takes (N, C, H, W); returns (N, H, W, C)
    where torch returns (N, C, H, W).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from . import layout as L
from .context import Summary

_AXES = {3: ("L",), 4: ("H", "W"), 5: ("D", "H", "W")}


def _shapes(rank: int) -> Optional[tuple[str, str]]:
    spatial = _AXES.get(rank)
    if spatial is None:
        return None
    return f"(N, {', '.join(spatial)}, C)", f"(N, C, {', '.join(spatial)})"


def _image(tag) -> Optional[tuple[str, str]]:
    if tag is None or tag.kind != L.TENSOR or not L.is_image_layout(tag):
        return None
    return _shapes(len(tag.perm))


def layout_line(summary: Optional[Summary]) -> Optional[str]:
    """The sentence for one summary, or None when it takes and returns torch's layouts."""
    if summary is None:
        return None
    parts = []
    for p in summary.params:
        shapes = _image(summary.takes.get(p)) if p != "self" else None
        if shapes is not None:
            parts.append(f"takes {p} as {shapes[0]} where torch takes {shapes[1]}")
    shapes = _image(summary.returns)
    if shapes is not None:
        parts.append(f"returns {shapes[0]} where torch returns {shapes[1]}")
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _wrapped(text: str, indent: str, width: int = 88) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(indent) + len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + [line] if line else lines


def _docstring(cls: cst.ClassDef) -> Optional[cst.SimpleString]:
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
            and isinstance(body[0].body[0].value, cst.SimpleString):
        return body[0].body[0].value
    return None


def with_layout_line(cls: cst.ClassDef, summary: Optional[Summary], width: int = 88) -> cst.ClassDef:
    """``cls`` with the layout line in its docstring (added at its end, or as the
    docstring when there is none)."""
    text = layout_line(summary)
    if text is None or not isinstance(cls.body, cst.IndentedBlock):
        return cls
    indent = "    "
    doc = _docstring(cls)
    lines = _wrapped(text, indent, width - 3)  # room for the closing quotes
    if doc is None:
        joined = ("\n" + indent).join(lines)
        new = cst.parse_statement(f'"""{joined}"""\n' if len(lines) == 1 else f'"""{joined}\n{indent}"""\n')
        return cls.with_changes(body=cls.body.with_changes(body=[new, *cls.body.body]))
    prefix = doc.prefix.lower()
    quote = doc.quote
    if "b" in prefix or "f" in prefix or len(quote) != 3 or text in doc.value:
        return cls
    inner = doc.value[len(doc.prefix) + 3:-3]
    if "r" not in prefix and "\\" in text:
        return cls
    new_inner = inner.rstrip() + "\n\n" + "\n".join(indent + ln for ln in lines) + "\n" + indent
    new_doc = doc.with_changes(value=f"{doc.prefix}{quote}{new_inner}{quote}")
    first = cls.body.body[0]
    new_first = first.with_changes(body=[first.body[0].with_changes(value=new_doc)])
    return cls.with_changes(body=cls.body.with_changes(body=[new_first, *cls.body.body[1:]]))


def add_layout_lines(body: list, summaries: dict, width: int = 88) -> list:
    """Module body statements, each translated class given its layout line
    (wrapped to the configured line length)."""
    return [with_layout_line(st, summaries.get(st.name.value), width) if isinstance(st, cst.ClassDef) else st
            for st in body]
