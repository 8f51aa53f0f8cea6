"""``translate --check`` on a translated tree after one edit, in wall time.

    python benchmarks/check_speed.py [DIR] [--edit RELPATH]

Copies DIR (default: torchvision's ``models/``, 61 files) to a temporary
directory and translates it into ``out/`` with the cache on (a cache
directory of its own). Then edits one source -- by default the first file
(sorted) that exactly two other files of the tree import -- and times, each
as its own ``torch2nnx`` process, one core (``-j 1``):

- ``--check`` on the up-to-date tree;
- ``--check`` after the edit (the edited file and its importers are stale);
- the run writing them;

and checks that the written tree is the one a run without the cache writes.
The goal for the edit is at most 2 s wall (issue 12).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def default_dir() -> Path:
    import torchvision

    return Path(torchvision.__file__).parent / "models"


def importers(tree: Path) -> dict[str, set[str]]:
    """module -> the tree's modules importing it."""
    from torch2nnx import project
    from torch2nnx.api import package_of

    files = {}
    for p in sorted(tree.rglob("*.py")):
        rel = p.relative_to(tree.parent).with_suffix("").parts
        files[".".join(rel[:-1] if rel[-1] == "__init__" else rel)] = p
    out: dict[str, set[str]] = {m: set() for m in files}
    for m, p in files.items():
        names = project._scan(p.read_text(encoding="utf-8"), package_of(p), p)[0]
        for d in project._deps_of(names, set(files)) - {m}:
            out[d].add(m)
    return out


def timed(args: list[str], env: dict) -> tuple[float, int]:
    t = time.perf_counter()
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    return time.perf_counter() - t, r.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", type=Path)
    ap.add_argument("--edit", help="the file to edit, relative to DIR")
    a = ap.parse_args()
    src = (a.dir or default_dir()).resolve()
    exe = [sys.executable, "-m", "torch2nnx", "translate"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tree = tmp / src.name
        shutil.copytree(src, tree, ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ, TORCH2NNX_CACHE_DIR=str(tmp / "cache"), PYTHONPATH=str(tmp))
        n = len(list(tree.rglob("*.py")))
        if a.edit:
            edit = tree / a.edit
        else:
            imp = importers(tree)
            pick = next(m for m in sorted(imp) if len(imp[m]) == 2)
            edit = tree.parent.joinpath(*pick.split(".")).with_suffix(".py")
            if not edit.is_file():
                edit = edit.with_suffix("") / "__init__.py"
            print(f"edited: {edit.relative_to(tree)} (imported by {', '.join(sorted(imp[pick]))})")
        out = tmp / "one" / "out"
        full, rc = timed(exe + [str(tree), "-o", str(out), "-q", "-j", "1"], env)
        print(f"{n} files: first translation {full:.1f} s (exit {rc})")
        t, rc = timed(exe + [str(tree), "-o", str(out), "--check", "-q", "-j", "1"], env)
        print(f"--check, up to date: {t:.2f} s (exit {rc})")
        edit.write_text(edit.read_text(encoding="utf-8") + "\n\n# edited\n", encoding="utf-8")
        t, rc = timed(exe + [str(tree), "-o", str(out), "--check", "-q", "-j", "1"], env)
        print(f"--check after the edit: {t:.2f} s (exit {rc}; goal at most 2 s)")
        t, rc = timed(exe + [str(tree), "-o", str(out), "-q", "-j", "1"], env)
        print(f"writing the edit: {t:.2f} s (exit {rc})")
        ref = tmp / "two" / "out"
        timed(exe + [str(tree), "-o", str(ref), "-q", "--no-cache"], env)
        files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.py"))
        differ = [f for f in files if not (ref / f).is_file() or not filecmp.cmp(out / f, ref / f, shallow=False)]
        print("the tree a run without the cache writes:", "identical" if not differ else f"differs in {differ}")


if __name__ == "__main__":
    main()
