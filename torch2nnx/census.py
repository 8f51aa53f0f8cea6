"""Whole-package census, the core: translate one file of an installed package
as ``torch2nnx translate FILE`` does next to its source, and say what went
wrong. ``benchmarks/census.py`` runs it over whole packages;
``tests/test_robustness.py`` over a representative subset.

A row's ``status``: ``ok``; ``crash`` (an internal error escaped: a bug);
``invalid`` (an output does not compile, or compiles with a SyntaxWarning the
source does not have, such as calling ``None(...)``: a bug); ``timeout``;
``unparseable`` (the source itself is not Python 3). ``t2n901`` counts the
statements a contained internal error left untranslated (each a bug too).
"""

from __future__ import annotations

import importlib.util
import re
import signal
import threading
import time
import warnings
from pathlib import Path


def package_files(name: str) -> list[Path]:
    """Every ``.py`` of an installed package, sorted."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"package {name!r} is not installed")
    root = Path(list(spec.submodule_search_locations)[0])
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def syntax_warnings(code: str, name: str) -> set[str]:
    """The SyntaxWarnings compiling ``code`` gives (raises SyntaxError when it does not compile)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SyntaxWarning)
        compile(code, name, "exec", dont_inherit=True)
    return {str(w.message) for w in caught if issubclass(w.category, SyntaxWarning)}


def check_compiles(code: str, name: str, source_warnings: set[str]) -> str | None:
    """Why ``code`` is not a valid output, or None."""
    try:
        new = syntax_warnings(code, name) - source_warnings
    except SyntaxError as e:
        return f"{e.msg}: {(e.text or '').strip()}"
    if new:
        return f"SyntaxWarning: {sorted(new)[0]}"
    return None


def census_file(job) -> dict:
    """Translate one file (``job`` is ``(path, timeout seconds)``); never raises."""
    path, timeout = job
    from torch2nnx.api import package_of, translate
    from torch2nnx.translator.module import ParseError

    row = {"path": str(path), "status": "ok", "error": None, "t2n901": 0, "todos": 0, "seconds": 0.0}
    alarm = bool(timeout) and hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if alarm:
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(timeout)
    t0 = time.perf_counter()
    try:
        source = Path(path).read_text(encoding="utf-8")
        result = translate(source, str(path), module_name=Path(path).stem + "_nnx",
                           package=package_of(path), absolutize=False)
        row["todos"] = result.todo_count
        row["t2n901"] = sum(d.code == "T2N901" for d in result.diagnostics)
        row["t2n901_messages"] = [d.message for d in result.diagnostics if d.code == "T2N901"]
        try:
            known = syntax_warnings(source, str(path))
        except SyntaxError:
            known = set()
        for code, name in ((result.code, "module"), (result.weights_code, "weights")):
            if code is None:
                continue
            why = check_compiles(code, f"{path}:{name}", known)
            if why is not None:
                row["status"], row["error"] = "invalid", f"{name}: {why}"
    except ParseError as e:
        row["status"], row["error"] = "unparseable", str(e)  # the source itself (py2 files, templates)
    except _Timeout:
        row["status"], row["error"] = "timeout", f"over {timeout} s"
    except RecursionError:
        row["status"], row["error"] = "crash", "RecursionError"
    except Exception as e:  # noqa: BLE001 - what the census counts
        row["status"], row["error"] = "crash", f"{type(e).__name__}: {e}".splitlines()[0][:300]
    finally:
        if alarm:
            signal.alarm(0)
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


def failures(row: dict) -> list[str]:
    """What a row counts against the translator: its error and each T2N901."""
    msgs = [row["error"]] if row["status"] in ("crash", "invalid", "timeout") else []
    return msgs + [f"T2N901 {m}" for m in row.get("t2n901_messages", [])]


def normalise(message: str) -> str:
    """Group messages that differ only in names and numbers."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", message)[:160]
