"""Skip files whose translations are already on disk, like black's cache.

One JSON file per (tool version, rule tables, line length) in the user cache
directory (``$TORCH2NNX_CACHE_DIR``, else ``$XDG_CACHE_HOME/torch2nnx`` or
``~/.cache/torch2nnx``). An entry per source file records the hash of its
source, of the run's files it imports, and of each output it produced. A
lookup recomputes those hashes from disk: an entry that no longer matches is
simply a miss, so a stale cache can cost time, never a wrong answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from . import __version__
from .diagnostics import Diagnostic

FORMAT = 2  # 2: multi-file runs share a helpers module


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_dir() -> Path:
    env = os.environ.get("TORCH2NNX_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "torch2nnx"


def _file_digest(path: Path) -> str | None:
    try:
        return digest(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


class Cache:
    def __init__(self, line_length: int, directory: Path | None = None):
        from .rules.registry import fingerprint

        key = digest(f"{FORMAT}|{__version__}|{fingerprint()}|{line_length}")[:16]
        self.path = (directory or cache_dir()) / f"cache.{key}.json"
        self.entries: dict[str, dict] = {}
        self.dirty = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                self.entries = data
        except (OSError, ValueError):
            pass

    @staticmethod
    def _run_key(unit, sources: dict) -> str:
        # which files the run holds: a sibling joining or leaving changes imports
        return digest("\n".join(sorted(sources)) + f"|{unit.target}|{unit.package}|{unit.absolutize}|{unit.weights and unit.weights.resolve()}")

    def lookup(self, unit, source: str, sources: dict):
        """The Outcome of ``unit`` if nothing it depends on changed, else None."""
        from .project import SKIPPED, UNCHANGED, Outcome

        e = self.entries.get(str(unit.src.resolve()))
        if not e or e["source"] != digest(source) or e["run"] != self._run_key(unit, sources):
            return None
        for dep, h in e["deps"].items():
            if dep not in sources or digest(sources[dep]) != h:
                return None
        if e["status"] == SKIPPED:
            return Outcome(unit, SKIPPED)
        if str(unit.out.resolve()) not in e["outputs"]:
            return None
        for path, h in e["outputs"].items():
            if _file_digest(Path(path)) != h:
                return None
        diags = [Diagnostic(*d) for d in e["diagnostics"]]
        return Outcome(unit, UNCHANGED, [], diags, e["todos"])

    def record(self, outcome, source: str, sources: dict, outputs: dict, deps) -> None:
        """Remember what ``outcome``'s unit translates to (its outputs' contents)."""
        from .project import FAILED

        if outcome.status == FAILED:
            return
        u = outcome.unit
        self.entries[str(u.src.resolve())] = {
            "source": digest(source),
            "run": self._run_key(u, sources),
            "deps": {d: digest(sources[d]) for d in sorted(deps)},
            "status": outcome.status,
            "outputs": {str(p.resolve()): digest(text) for p, text in outputs.items()},
            "diagnostics": [[d.line, d.column, d.code, d.message, d.path] for d in outcome.diagnostics],
            "todos": outcome.todo_count,
        }
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".cache.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.entries, fh)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written only costs time
