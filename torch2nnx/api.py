"""The library API. It never writes files; cli.py does."""

from __future__ import annotations

from .translator.context import Options
from .translator.module import ParseError, TranslateResult, translate_source


def translate(source: str, path: str = "<stdin>", *, line_length: int = 88, weights: bool = True,
              module_name: str | None = None, package: str | None = None) -> TranslateResult:
    """Translate one file's source. Raises ParseError for unparseable input.

    ``package``: the source's package (``torchvision.models``); its relative
    imports become absolute, so the translation works outside that package.
    """
    return translate_source(source, path, Options(line_length=line_length, weights=weights, package=package),
                            module_name=module_name)


def package_of(path) -> str | None:
    """The dotted package of a source file, from the __init__.py files above it."""
    from pathlib import Path

    parts = []
    d = Path(path).resolve().parent
    while (d / "__init__.py").exists():
        parts.append(d.name)
        d = d.parent
    return ".".join(reversed(parts)) or None


__all__ = ["translate", "TranslateResult", "ParseError", "Options"]
