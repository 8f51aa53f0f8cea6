"""Skip files whose translations are already on disk, like black's cache.

One JSON file per (tool version, rule tables, line length) in the user cache
directory (``$TORCH2NNX_CACHE_DIR``, else ``$XDG_CACHE_HOME/torch2nnx`` or
``~/.cache/torch2nnx``). An entry per source file records the hash of its
source, of the run's files it imports, and of each output it produced. A
lookup recomputes those hashes from disk: an entry that no longer matches is
simply a miss, so a stale cache can cost time, never a wrong answer.

Beside the entries, what lets a run that must translate one edited file skip
the up-to-date files it imports (their classes and layouts are read, not
recomputed): each file's scan of its imports, by the digest of its source,
and each translated file's results (``results.<key>/``, one pickle per
source: the first pass's result, the second pass's when importers' layouts
made one, and the hints it had), valid while the file and every file it
imports, transitively, are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path

from . import __version__
from .diagnostics import Diagnostic

FORMAT = 3  # 2: multi-file runs share a helpers module; 3: scans and results kept


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
        self.results_dir = self.path.parent / f"results.{key}"
        self.entries: dict[str, dict] = {}
        self.scans: dict[str, list] = {}
        self.texts: dict[str, str] = {}  # generated text's key -> digest of its formatted form
        self.pending: dict[str, dict] = {}  # results to write on save()
        self.dirty = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                self.entries = data.get("entries", {})
                self.scans = data.get("scans", {})
                self.texts = data.get("texts", {})
        except (OSError, ValueError, AttributeError):
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

    # --- scans and results, for the files a stale file imports ---------------

    @staticmethod
    def _scan_key(source: str, package, path) -> str:
        return digest(f"{package}|{Path(path).resolve()}|{source}")

    def scan(self, source: str, package, path):
        """(imported names, uses torch) of a source scanned before, else None."""
        hit = self.scans.get(self._scan_key(source, package, path))
        if not hit or any(_file_digest(Path(f)) != h for f, h in hit[2].items()):
            return None
        return set(hit[0]), hit[1]

    def record_scan(self, source: str, package, path, names: set, uses_torch: bool, read=()) -> None:
        """``read``: the other files the scan parsed (star imports' modules)."""
        files = {f: _file_digest(Path(f)) for f in sorted(read)}
        self.scans[self._scan_key(source, package, path)] = [sorted(names), uses_torch, files]
        self.dirty = True

    def formatted(self, key, on_disk: str | None) -> str | None:
        """``on_disk`` when it is the formatted text recorded for ``key``."""
        want = self.texts.get(digest(repr(key)))
        return on_disk if want is not None and on_disk is not None and digest(on_disk) == want else None

    def record_formatted(self, key, text: str) -> None:
        self.texts[digest(repr(key))] = digest(text)
        self.dirty = True

    def _result_file(self, unit) -> Path:
        return self.results_dir / (digest(str(unit.src.resolve()))[:32] + ".pickle")

    def result(self, unit, source: str, sources: dict):
        """(first pass's result, second pass's or None, its hints) of ``unit``'s
        last translation, if neither it nor any file it imports changed."""
        f = self._result_file(unit)
        rec = self.pending.get(str(f))
        if rec is None:
            try:
                with open(f, "rb") as fh:
                    rec = pickle.load(fh)
            except Exception:  # missing, truncated, or from another version: a miss
                return None
        if not isinstance(rec, dict) or rec.get("source") != digest(source) \
                or rec.get("run") != self._run_key(unit, sources):
            return None
        for dep, h in rec["deps"].items():
            if dep not in sources or digest(sources[dep]) != h:
                return None
        return rec["first"], rec["final"], rec["hints"]

    def record_result(self, unit, source: str, sources: dict, deps, first, final, hints) -> None:
        self.pending[str(self._result_file(unit))] = {
            "source": digest(source), "run": self._run_key(unit, sources),
            "deps": {d: digest(sources[d]) for d in sorted(deps)},
            "first": first, "final": final, "hints": hints}
        self.dirty = True

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
                json.dump({"entries": self.entries, "scans": self.scans, "texts": self.texts}, fh)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written only costs time
        for path, rec in self.pending.items():
            try:
                data = pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # a result that cannot be pickled: that file is translated next time
                continue
            try:
                self.results_dir.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.results_dir, prefix=".result.", suffix=".tmp")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except OSError:
                pass
        self.pending.clear()
