"""How diagnostics and problems are printed: ``--output-format``.

- concise: ``path:line:col: T2Nnnn message``, one per line, on stderr;
- github: workflow commands (``::warning file=...,line=...::...``), which a
  GitHub Actions run turns into annotations on the pull request, on stdout;
- json: one array of objects at the end of the run, on stdout.
"""

from __future__ import annotations

import json

from .diagnostics import CODES, Diagnostic

GITHUB_LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


class Reporter:
    def __init__(self, fmt: str, echo):
        """``echo(text, err: bool)`` prints one line."""
        self.fmt = fmt
        self.echo = echo
        self.items: list[dict] = []

    def diagnostic(self, d: Diagnostic, path: str) -> None:
        self.emit(path, d.line, d.column, d.code, d.severity, d.message, concise=d.format(path))

    def problem(self, path: str, message: str, *, code: str = "", severity: str = "error",
                concise: str | None = None, line: int = 0, column: int = 0) -> None:
        """A file-level problem (cannot translate, translation stale)."""
        self.emit(path, line, column, code, severity, message, concise=concise or f"{path}: {message}")

    def emit(self, path, line, column, code, severity, message, *, concise: str) -> None:
        if self.fmt == "json":
            self.items.append({"path": path, "line": line, "column": column, "code": code,
                               "severity": severity, "message": message})
        elif self.fmt == "github":
            props = [f"file={_gh_escape(path, True)}"]
            if line:
                props.append(f"line={line}")
            if column:
                props.append(f"col={column}")
            if code:
                props.append(f"title={_gh_escape(code, True)}")
            level = GITHUB_LEVELS.get(severity, "warning")
            self.echo(f"::{level} {','.join(props)}::{_gh_escape(message)}", False)
        else:
            self.echo(concise, True)

    def finish(self) -> None:
        if self.fmt == "json":
            self.echo(json.dumps(self.items, indent=2), False)


def parse_error_parts(line: str):
    """Split a ready ``path:line:col: T2N900 message`` line (decode and parse errors)."""
    import re

    m = re.match(r"^(.*?):(\d+):(\d+): (T2N\d{3}) (.*)$", line)
    if not m:
        return None
    path, ln, col, code, msg = m.groups()
    return path, int(ln), int(col), code, CODES.get(code, ("error",))[0], msg
