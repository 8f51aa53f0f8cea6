"""The supported-API table, generated from the rule rows.

``torch2nnx rules`` prints :func:`markdown_table`; README.md carries a copy
between ``<!-- rules:start -->`` and ``<!-- rules:end -->`` that
tests/test_readme.py keeps in sync. Everything here reads rows only (names,
examples, weight maps, notes), never builds a translation, so the output
depends on the rule tables alone and is deterministic.
"""

from __future__ import annotations

from typing import Iterable

from .rules import registry
from .rules.base import Rule, WeightMap

# group titles, in output order
LAYERS = "Layers"
FUNCTIONAL = "torch.nn.functional"
FUNCTIONS = "torch functions"
TENSOR = "Tensor methods and properties"
CONSTANTS = "constants"
OPTIM = "torch.optim (training)"
GROUPS = (LAYERS, FUNCTIONAL, FUNCTIONS, TENSOR, CONSTANTS, OPTIM)

SEE_RULE = "see rule"
HEADER = ("torch API", "NNX translation", "weights", "notes")


def group_of(rule: Rule) -> str:
    """Which section of the table a row belongs to."""
    if registry.constant(rule.name) is rule or rule.name.startswith("dtype."):
        return CONSTANTS
    if rule.name.startswith("Tensor."):
        return TENSOR
    if rule.name.startswith("torch.optim."):
        return OPTIM
    if rule.layer:
        return LAYERS
    if rule.name.startswith("torch.nn.functional."):
        return FUNCTIONAL
    return FUNCTIONS


def _weight_maps(rule: Rule) -> tuple[WeightMap, ...]:
    w = rule.weights
    if w is None:
        return ()
    return tuple(w) if isinstance(w, (tuple, list)) else (w,)


def _code(text: str) -> str:
    """``text`` as a markdown code span that is safe inside a table cell."""
    text = " ".join(text.split())  # one line
    text = text.replace("|", "\\|")  # GFM splits cells on | even inside code spans
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _plain(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def translation_cell(rule: Rule) -> str:
    """The row's first example and what the translator makes of it."""
    from .rules.examples import example_statement, example_translation

    if not rule.examples:
        return SEE_RULE
    ex = rule.examples[0]
    if ex.where == "stmt":
        out = example_statement(rule, ex)
        return f"{_code(ex.torch)} → {_code(out) if out else 'removed'}"
    if ex.where in ("decorator", "with", "overload"):
        return f"{_code(ex.torch)} → removed"
    out = example_translation(rule, ex)
    return f"{_code(ex.torch)} → {_code(out)}" if out else SEE_RULE


def weights_cell(rule: Rule) -> str:
    """``weight→kernel (linear_kernel), bias→bias?`` per NNX class."""
    maps = _weight_maps(rule)
    parts = []
    for m in maps:
        entries = []
        for e in m.entries:
            s = f"{e.torch_name}{'?' if e.optional else ''}→{e.nnx_name}"
            if e.transform:
                s += f" ({e.transform})"
            entries.append(s)
        inner = sorted({r.nnx_class for r in m.requires})
        text = ", ".join(entries) if entries else (
            f"torch's names, inner layers: {', '.join(inner)}" if inner else "no state")
        if m.ignore:
            text += "; ignored: " + ", ".join(m.ignore)
        parts.append(f"{m.nnx_class}: {text}" if len(maps) > 1 else text)
    return _plain("; ".join(parts)) if parts else ""


# how each layout kind (rules/base.py) treats a channels-last input
LAYOUT_NOTES = {
    "elementwise": "",  # keeps whatever layout it gets: the common case, not worth a note
    "spatial": "channels-last in and out",
    "spatial_any": "channels-last in and out",
    "channel": "channels-last in and out, or (N, C)",
    "plain": "torch order (a channels-last input is transposed back)",
    "reshape": "torch order (no transpose when the spatial dims are 1)",
    "dims": "dims remapped to channels-last",
    "permute": "dims remapped to channels-last",
    "stack": "dim remapped to channels-last",
    "shape": "indexing and unpacking remapped to channels-last",
    "aware": "adapts to the input's layout",
}


def notes_cell(rule: Rule) -> str:
    notes = []
    origin = registry.user_origin(rule)
    if origin is not None:
        notes.append(f"user row ({origin})")
    layout = LAYOUT_NOTES.get(rule.layout.kind, "")
    if layout:
        notes.append(layout)
    if group_of(rule) == TENSOR and registry.tensor_property(rule.name.split(".", 1)[1]) is rule:
        notes.append("property")
    if rule.note:
        notes.append(rule.note)
    return _plain("; ".join(notes))


def grouped(rules: Iterable[Rule] | None = None) -> dict[str, list[Rule]]:
    """Rows by group, each group sorted by name (case-insensitively)."""
    out: dict[str, list[Rule]] = {g: [] for g in GROUPS}
    for rule in registry.all_rules() if rules is None else rules:
        out[group_of(rule)].append(rule)
    for rows in out.values():
        rows.sort(key=lambda r: (r.name.lower(), r.name))
    return out


def markdown_table() -> str:
    """All supported torch APIs as markdown: one table per group."""
    groups = grouped()
    total = sum(len(rows) for rows in groups.values())
    lines = [
        f"{total} torch APIs. `x?` in the weights column: the entry is absent in some "
        "configurations (`bias=False`); the name in parentheses is the transform in the "
        "generated weights module.",
    ]
    for title in GROUPS:
        rows = groups[title]
        if not rows:
            continue
        lines += ["", f"### {title} ({len(rows)})", ""]
        lines.append("| " + " | ".join(HEADER) + " |")
        lines.append("|" + "|".join("---" for _ in HEADER) + "|")
        for r in rows:
            cells = (_code(r.name), translation_cell(r), weights_cell(r), notes_cell(r))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def text_list() -> str:
    """All supported torch API names, one per line, in table order."""
    groups = grouped()
    return "".join(f"{r.name}{_user_mark(r)}\n" for title in GROUPS for r in groups[title])


def _user_mark(rule: Rule) -> str:
    origin = registry.user_origin(rule)
    return f"  # user row ({origin})" if origin is not None else ""
