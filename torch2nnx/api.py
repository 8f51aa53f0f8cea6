"""The library API. It never writes files; cli.py does."""

from __future__ import annotations

from .translator.context import Options
from .translator.module import ParseError, TranslateResult, translate_source


def translate(source: str, path: str = "<stdin>", *, line_length: int = 88, weights: bool = True,
              module_name: str | None = None) -> TranslateResult:
    """Translate one file's source. Raises ParseError for unparseable input."""
    return translate_source(source, path, Options(line_length=line_length, weights=weights), module_name=module_name)


__all__ = ["translate", "TranslateResult", "ParseError", "Options"]
