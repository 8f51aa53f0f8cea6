"""Whole-package census: translate every ``.py`` of installed packages and
count what went wrong.

    python benchmarks/census.py [PACKAGE ...] [-j N] [--json OUT] [--limit N] [--only SUBSTR] [--every N] [--shard I/N] [--timeout S]

Default packages: torchvision, timm, transformers (read from site-packages,
never copied). Each file is translated alone, as ``torch2nnx translate FILE``
does next to its source (relative imports resolved against the file's
package, kept relative). Per package it prints the files translated, the
files that raised (an internal error: a bug), the outputs that do not compile
or compile with a SyntaxWarning their source does not have, like ``None(x)``
(a bug: the CLI never writes the former), the statements left untranslated by a
contained internal error (T2N901), the TODO count and the time; then the
first lines of each failure, grouped by message, most frequent first.
The per-file core is torch2nnx/census.py (tests/test_robustness.py runs it
over a subset).
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import sys
import time
from pathlib import Path

from torch2nnx.census import census_file, failures, normalise, package_files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("packages", nargs="*", default=["torchvision", "timm", "transformers"])
    ap.add_argument("-j", "--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write every file's row here")
    ap.add_argument("--limit", type=int, help="only the first N files of each package")
    ap.add_argument("--only", help="only files whose path contains this")
    ap.add_argument("--every", type=int, default=1, help="every N-th file of each package (a sample)")
    ap.add_argument("--shard", default="0/1",
                    help="I/N: the I-th of N interleaved parts (a long census run in pieces, each with its --json)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per file")
    args = ap.parse_args(argv)
    try:
        shard, shards = (int(v) for v in args.shard.split("/"))
        assert 0 <= shard < shards
    except (ValueError, AssertionError):
        ap.error(f"--shard: expected I/N with 0 <= I < N, got {args.shard!r}")
    rows = []
    ctx = multiprocessing.get_context("forkserver")
    bad_total = 0
    for pkg in args.packages:
        try:
            files = package_files(pkg)
        except LookupError as e:
            raise SystemExit(f"census: {e}")
        if args.only:
            files = [p for p in files if args.only in str(p)]
        files = files[:: args.every][shard::shards]
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
        for m in failures(r):
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
