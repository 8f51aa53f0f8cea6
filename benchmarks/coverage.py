"""How much of the torch API the real-world corpus packages use has a row.

    python benchmarks/coverage.py [--packages torchvision,timm,transformers]
                                  [--transformers-models all|NAME,...] [--no-translate]
                                  [--missing N] [--json OUT]

Runs ``torch2nnx coverage --format json`` over the installed model code of
each package (read from site-packages, never copied): ``torchvision/models``,
``timm/models`` and the ``modeling_*.py`` files of transformers' models (a
representative set of architectures by default; ``--transformers-models all``
takes all of them, which takes long). Tensor methods are counted too: the
coverage command translates each file and counts the methods the translation
sees called on tensors.

Prints, per package and in total, the share of distinct torch APIs and of
their uses that have a row (or are kept, like torchvision's weight enums),
and the most used APIs that have none. The goal (issue 13) is 99% of uses and
95% of distinct APIs; what is left and has no JAX meaning is listed in the
README.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

# The architectures people port first (Bonsai's list and the most downloaded).
TRANSFORMERS_MODELS = ("bert", "gpt2", "llama", "t5", "vit", "clip", "roberta", "mistral", "qwen2", "gemma",
                       "bart", "distilbert", "whisper", "convnext", "swin", "resnet", "opt", "phi", "gpt_neox",
                       "dinov2", "siglip", "mobilevit", "segformer", "wav2vec2")


def site_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"coverage benchmark: package {name!r} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def model_code(package: str, transformers_models: str) -> list[Path]:
    root = site_dir(package)
    if package != "transformers":
        return [root / "models"]
    models = root / "models"
    names = (sorted(p.name for p in models.iterdir() if p.is_dir()) if transformers_models == "all"
             else transformers_models.split(","))
    files = []
    for n in names:
        files += sorted((models / n).glob("modeling_*.py"))
    return [f for f in files if not f.name.startswith(("modeling_tf_", "modeling_flax_"))]


def run_coverage(paths: list[Path], translate: bool) -> dict:
    cmd = [sys.executable, "-m", "torch2nnx", "coverage", "--format", "json", *map(str, paths)]
    if not translate:
        cmd.append("--no-translate")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode not in (0, 123):
        raise SystemExit(f"coverage benchmark: {' '.join(cmd[:5])} ... failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def shares(apis: list[dict]) -> dict:
    uses = sum(a["uses"] for a in apis)
    covered = [a for a in apis if a["supported"] != "no"]
    ok_uses = sum(a["uses"] for a in covered)
    return {"apis": len(apis), "apis_with_row": len(covered), "uses": uses, "uses_with_row": ok_uses,
            "api_share": len(covered) / len(apis) if apis else 1.0,
            "use_share": ok_uses / uses if uses else 1.0}


def merge(reports: dict[str, dict]) -> list[dict]:
    by_name: dict[str, dict] = {}
    for rep in reports.values():
        for a in rep["apis"]:
            m = by_name.setdefault(a["name"], {"name": a["name"], "uses": 0, "supported": a["supported"],
                                               "todos": 0})
            m["uses"] += a["uses"]
            m["todos"] += a["todos"]
            if a["supported"] == "no":
                m["supported"] = "no"
    return list(by_name.values())


def table(rows: dict[str, dict]) -> str:
    lines = ["| package | files | distinct APIs | with a row | uses | with a row |", "|---|---:|---:|---:|---:|---:|"]
    for name, s in rows.items():
        lines.append(f"| {name} | {s['files']} | {s['apis']} | {s['apis_with_row']} ({100 * s['api_share']:.1f}%) "
                     f"| {s['uses']} | {s['uses_with_row']} ({100 * s['use_share']:.1f}%) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packages", default="torchvision,timm,transformers")
    ap.add_argument("--transformers-models", default=",".join(TRANSFORMERS_MODELS),
                    help="comma-separated model directories of transformers, or 'all'")
    ap.add_argument("--no-translate", action="store_true",
                    help="count names only (faster; tensor methods no rule knows are not seen)")
    ap.add_argument("--missing", type=int, default=25, help="list this many of the most used APIs with no row")
    ap.add_argument("--json", type=Path, help="write the figures and the per-package reports here")
    args = ap.parse_args(argv)

    reports, rows = {}, {}
    for pkg in args.packages.split(","):
        t0 = time.perf_counter()
        rep = run_coverage(model_code(pkg, args.transformers_models), not args.no_translate)
        reports[pkg] = rep
        rows[pkg] = {"files": len(rep["files"]), **shares(rep["apis"])}
        print(f"{pkg}: {len(rep['files'])} files in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    total = merge(reports)
    rows["**total**"] = {"files": sum(r["files"] for r in rows.values()), **shares(total)}
    print(table(rows))
    missing = sorted((a for a in total if a["supported"] == "no"), key=lambda a: (-a["uses"], a["name"]))
    if missing and args.missing:
        print(f"\nmost used APIs with no row ({len(missing)} in all):")
        for a in missing[:args.missing]:
            print(f"  {a['uses']:5d}  {a['name']}")
    if args.json:
        args.json.write_text(json.dumps({"figures": rows, "missing": missing, "reports": reports}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
