"""Translation throughput against the bare cost of the same files' LibCST
parse + code generation + black formatting, measured in the same run.

    python benchmarks/translate_speed.py [DIR ...] [--repeat 3]

Default: torchvision/models from site-packages (when torchvision is
installed), else the fixtures. Prints per-file and total times and the ratio
translate / (parse + codegen + black); the goal is at most 1.5x.

A translation pauses Python's cyclic garbage collector while it works on a
file (it allocates millions of CST nodes, none in cycles). The bare pipeline
is timed both as LibCST and black run by default and with the collector
paused the same way; the second ratio compares like with like.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import black
import libcst as cst

import torch2nnx
from torch2nnx.translator.module import gc_paused

ROOT = Path(__file__).resolve().parent.parent


def default_files() -> list[Path]:
    try:
        import torchvision

        return sorted((Path(torchvision.__file__).parent / "models").glob("*.py"))
    except ImportError:
        return sorted(ROOT.glob("fixtures/*/model.py"))


def bare(source: str) -> None:
    code = cst.parse_module(source).code
    black.format_str(code, mode=black.Mode())


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    files = [p for d in args.dirs for p in sorted(d.rglob("*.py"))] if args.dirs else default_files()
    total_bare = total_paused = total_translate = 0.0
    print(f"{'file':40} {'bare s':>8} {'bare,gc s':>10} {'translate s':>12} {'ratio':>6} {'ratio,gc':>8}")
    for path in files:
        source = path.read_text()
        b = best_of(lambda: bare(source), args.repeat)

        def bare_paused():
            with gc_paused():
                bare(source)

        bp = best_of(bare_paused, args.repeat)
        t = best_of(lambda: torch2nnx.translate(source, str(path)), args.repeat)
        total_bare += b
        total_paused += bp
        total_translate += t
        print(f"{path.name:40} {b:8.3f} {bp:10.3f} {t:12.3f} {t / b:6.2f} {t / bp:8.2f}")
    print(f"{'total (' + str(len(files)) + ' files)':40} {total_bare:8.3f} {total_paused:10.3f} "
          f"{total_translate:12.3f} {total_translate / total_bare:6.2f} {total_translate / total_paused:8.2f}")
    print(f"translate / bare (LibCST and black as they run by default): {total_translate / total_bare:.2f}x")
    print(f"translate / bare (cyclic GC paused in both):                {total_translate / total_paused:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
