"""Whole-package census: translate every ``.py`` of installed packages and
count what went wrong.

    python benchmarks/census.py [PACKAGE ...] [-j N] [--json OUT] [--limit N] [--timeout S]

Default packages: torchvision, timm, transformers (read from site-packages,
never copied). Each file is translated alone, as ``torch2nnx translate FILE``
does next to its source (relative imports resolved against the file's
package, kept relative). Per package it prints the files translated, the
files that raised (an internal error: a bug), the outputs that do not compile
(a bug: the CLI never writes them), the statements left untranslated by a
contained internal error (T2N901), the TODO count and the time; then the
first lines of each failure, grouped by message, most frequent first.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import multiprocessing
import re
import signal
import sys
import time
from pathlib import Path


def package_files(name: str) -> list[Path]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"census: package {name!r} is not installed")
    root = Path(list(spec.submodule_search_locations)[0])
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def census_file(job) -> dict:
    """Translate one file; never raises."""
    path, timeout = job
    from torch2nnx.api import package_of, translate
    from torch2nnx.translator.module import ParseError

    row = {"path": str(path), "status": "ok", "error": None, "t2n901": 0, "todos": 0, "seconds": 0.0}
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
        for code, name in ((result.code, "module"), (result.weights_code, "weights")):
            if code is None:
                continue
            try:
                compile(code, f"{path}:{name}", "exec", dont_inherit=True)
            except SyntaxError as e:
                row["status"], row["error"] = "invalid", f"{name}: {e.msg}: {(e.text or '').strip()}"
    except ParseError as e:
        row["status"], row["error"] = "unparseable", str(e)  # the source itself (py2 files, templates)
    except _Timeout:
        row["status"], row["error"] = "timeout", f"over {timeout} s"
    except RecursionError:
        row["status"], row["error"] = "crash", "RecursionError"
    except Exception as e:  # noqa: BLE001 - what the census counts
        row["status"], row["error"] = "crash", f"{type(e).__name__}: {e}".splitlines()[0][:300]
    finally:
        signal.alarm(0)
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


def normalise(message: str) -> str:
    """Group messages that differ only in names and numbers."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", message)[:160]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("packages", nargs="*", default=["torchvision", "timm", "transformers"])
    ap.add_argument("-j", "--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write every file's row here")
    ap.add_argument("--limit", type=int, help="only the first N files of each package")
    ap.add_argument("--only", help="only files whose path contains this")
    ap.add_argument("--every", type=int, default=1, help="every N-th file of each package (a sample)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per file")
    args = ap.parse_args(argv)
    rows = []
    ctx = multiprocessing.get_context("forkserver")
    bad_total = 0
    for pkg in args.packages:
        files = package_files(pkg)
        if args.only:
            files = [p for p in files if args.only in str(p)]
        files = files[:: args.every]
        if args.limit:
            files = files[: args.limit]
        t0 = time.perf_counter()
        with ctx.Pool(args.workers, maxtasksperchild=20) as pool:
            got = list(pool.imap_unordered(census_file, [(p, args.timeout) for p in files], chunksize=1))
        got.sort(key=lambda r: r["path"])
        for r in got:
            r["package"] = pkg
        rows += got
        counts = collections.Counter(r["status"] for r in got)
        contained = sum(r["t2n901"] for r in got)
        todos = sum(r["todos"] for r in got)
        bad_total += counts["crash"] + counts["invalid"] + counts["timeout"]
        print(f"{pkg}: {len(got)} files, {counts['ok']} translated, {counts['crash']} internal errors, "
              f"{counts['invalid']} do not compile, {counts['timeout']} timeouts, "
              f"{counts['unparseable']} unparseable sources; {contained} statements left by T2N901; "
              f"{todos} TODOs; {time.perf_counter() - t0:.0f} s", flush=True)
    groups = collections.Counter()
    examples = {}
    for r in rows:
        msgs = [r["error"]] if r["status"] in ("crash", "invalid", "timeout") else []
        msgs += [f"T2N901 {m}" for m in r.get("t2n901_messages", [])]
        for m in msgs:
            key = normalise(m)
            groups[key] += 1
            examples.setdefault(key, (r["path"], m))
    if groups:
        print("\nfailure classes (count, example):")
        for key, n in groups.most_common(40):
            path, m = examples[key]
            print(f"  {n:4d}  {m[:200]}\n        {path}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(f"\ncensus: {len(rows)} files, {bad_total} failures (internal errors, invalid outputs, timeouts), "
          f"{sum(r['t2n901'] for r in rows)} contained internal errors")
    return 1 if bad_total else 0


if __name__ == "__main__":
    sys.exit(main())
