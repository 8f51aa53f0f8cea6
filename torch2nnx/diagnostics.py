"""Diagnostics: ``path:line:col: T2Nnnn message``."""

from __future__ import annotations

from dataclasses import dataclass

# code -> (severity, meaning). Errors and warnings come with a TODO marker in
# the output; infos explain a choice the translator made (a boundary transpose).
CODES = {
    "T2N001": ("warning", "unsupported torch API"),
    "T2N002": ("warning", "unsupported argument or argument value"),
    "T2N003": ("warning", "torch reference left in the output"),
    "T2N004": ("warning", "unsupported statement form"),
    "T2N005": ("warning", "semantics differ and cannot be reproduced exactly"),
    "T2N100": ("info", "transpose inserted at a layout boundary"),
    "T2N900": ("error", "cannot parse input"),
    # a translator bug, contained: the statement is kept as it was, under a TODO marker
    "T2N901": ("warning", "internal error: statement left untranslated"),
}


@dataclass(frozen=True, order=True)
class Diagnostic:
    line: int
    column: int
    code: str
    message: str
    path: str = "<stdin>"

    @property
    def severity(self) -> str:
        return CODES.get(self.code, ("warning", ""))[0]

    @property
    def needs_todo(self) -> bool:
        return self.severity != "info"

    def format(self, path: str | None = None) -> str:
        return f"{path or self.path}:{self.line}:{self.column}: {self.code} {self.message}"
