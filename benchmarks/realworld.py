"""The real-world corpus: installed packages' models, translated unmodified
next to their sources, at parity with torch.

    python benchmarks/realworld.py [--only ID,...] [--package P] [-j N] [--json OUT [--resume]] [--keep DIR]

Cases are data (``benchmarks/realworld/manifest.json``, made by
``benchmarks/realworld/make_manifest.py``): a package, the module holding the
model, the torch code that builds it (a builder call or a class with small
constructor arguments), its inputs in torch's layout and a tolerance.

For each run the packages the cases use are copied from site-packages into a
temporary directory (never into the repository). Each case's build
expression becomes a small driver file, ``def build(): return <expr>``. The
drivers and the model modules they import are translated in the README's
default mode -- each translation next to its source (``resnet.py`` ->
``resnet_nnx.py`` + ``resnet_nnx_weights.py``), relative imports kept, the
package's own model files it imports followed -- in one run. Then the cases
run in worker processes (restarted after a crash or a time-out): the torch model and the NNX model are built with the
same arguments, the torch weights perturbed away from their defaults and
ported through the generated weights module, and the outputs compared in
eval mode (rtol = atol = 1e-4 unless the case says otherwise) and under
``nnx.jit``. Inputs given channels-first (``NCHW`` and the like) go to the
NNX model channels-last, as the output contract says.

One line per case: PASS/FAIL, the failing stage (translate, import, build,
load, forward, parity, jit), the max abs diff, the TODO count of the files it
uses; then ``parity N/M, jit N/M`` and a per-package table.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import queue
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MANIFEST = HERE / "realworld" / "manifest.json"
STAGES = ("translate", "import", "build", "load", "forward", "parity", "jit", "timeout", "crash")


def load_manifest(path: Path = MANIFEST) -> list[dict]:
    return json.loads(path.read_text())["cases"]


def driver_name(case_id: str) -> str:
    return "corpus_" + re.sub(r"\W", "_", case_id)


def driver_source(case: dict) -> str:
    return (f'"""Corpus case {case["id"]}: builds the model as its package does."""\n\n'
            f"{case['imports'].strip()}\n\n\n"
            f"def build():\n    return {case['build']}\n")


# --- setting up: packages copied, drivers written, everything translated -----------


def site_package(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"realworld: package {name!r} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def prepare(cases: list[dict], root: Path, workers: int) -> dict:
    """Copy the packages, write the drivers, translate. Returns
    {case id: {"error": str | None, "todos": int, "files": [...]}}."""
    from torch2nnx.project import FAILED, file_unit, run
    try:
        from torch2nnx.follow import followed
    except ImportError:  # an older torch2nnx (a "before" figure): its own import follower
        from torch2nnx.verify import _run_files

        def followed(paths):
            files, _ = _run_files(paths[0])
            return [Path(p) for p, _ in files.values()], {}

    site, drivers = root / "site", root / "drivers"
    site.mkdir(parents=True, exist_ok=True)
    drivers.mkdir(exist_ok=True)
    for pkg in sorted({c["package"] for c in cases}):
        if not (site / pkg).exists():
            shutil.copytree(site_package(pkg), site / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    case_files: dict[str, list[Path]] = {}
    for case in cases:
        d = drivers / f"{driver_name(case['id'])}.py"
        d.write_text(driver_source(case))
        files, _ = followed(_module_files(site, [case["module"]] + _imported_modules(case["imports"])))
        case_files[case["id"]] = [d] + files
    srcs = sorted({p for ps in case_files.values() for p in ps})
    units = [file_unit(p, p.with_name(p.stem + "_nnx.py"), weights=p.with_name(p.stem + "_nnx_weights.py"),
                       absolute=False) for p in srcs]
    t0 = time.perf_counter()
    outcomes = run(units, workers=workers)
    by_src = {}
    for o in outcomes:
        by_src[o.unit.src] = o
        if o.status != FAILED:
            for ch in o.changes:
                ch.path.write_text(ch.new, encoding="utf-8")
    print(f"translated {len(srcs)} files in {time.perf_counter() - t0:.0f} s "
          f"({sum(o.status == FAILED for o in outcomes)} failed)", flush=True)
    info = {}
    for cid, ps in case_files.items():
        failed = [by_src[p] for p in ps if by_src[p].status == FAILED]
        info[cid] = {"error": failed[0].error.splitlines()[0] if failed else None,
                     "todos": sum(by_src[p].todo_count for p in ps),
                     "files": [str(p) for p in ps]}
    return info


def _imported_modules(imports: str) -> list[str]:
    """The modules a case's driver imports from (``from timm.models.sknet import
    SelectiveKernelBasic``): translated with the case, as a user would name them."""
    import ast

    out = []
    for node in ast.walk(ast.parse(imports)):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return out


def _module_files(site: Path, modules: list[str]) -> list[Path]:
    files = []
    for m in dict.fromkeys(modules):
        base = site.joinpath(*m.split("."))
        # a package's __init__.py only for the case's own module: the drivers' `import timm`
        # is not model code to translate
        candidates = [base.with_suffix(".py")] + ([base / "__init__.py"] if m == modules[0] else [])
        files += [f for f in candidates if f.is_file()][:1]
    return files


# --- one case, in a worker process ---------------------------------------------------


def _spatial(layout: str | None) -> bool:
    return bool(layout) and layout.startswith("NC") and len(layout) >= 3


def run_case(case: dict) -> dict:
    """Build, port, compare; the first failing stage is reported."""
    import importlib
    import traceback

    import numpy as np

    out = {"id": case["id"], "stage": None, "max_diff": None, "jit_diff": None, "error": None, "times": {}}
    stage = "import"
    clock = [time.perf_counter()]

    def lap(name):  # seconds per stage: where a slow case spends its time
        now = time.perf_counter()
        out["times"][name] = round(now - clock[0], 1)
        clock[0] = now
    try:
        import jax
        import jax.numpy as jnp
        import torch
        from flax import nnx

        from torch2nnx.verify import _compare, _flat, make_input, perturb

        torch.set_num_threads(1)
        name = driver_name(case["id"])
        tmod = importlib.import_module(name)
        jmod = importlib.import_module(name + "_nnx")
        wmod = importlib.import_module(name + "_nnx_weights")
        lap("import")
        stage = "build"
        torch.manual_seed(0)
        t_model = tmod.build()
        perturb(t_model, 0)
        lap("torch")
        j_model = _build_nnx(jmod.build)
        lap("build")
        stage = "load"
        wmod.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
        lap("load")
        stage = "forward"
        t_model.eval()
        j_model.eval()
        rng = np.random.default_rng(0)
        arrays = [make_input(s, rng) for s in case["inputs"]]
        layouts = case.get("layouts") or [None] * len(arrays)
        j_inputs = [np.moveaxis(a, 1, -1) if _spatial(l) else a for a, l in zip(arrays, layouts)]
        with torch.no_grad():
            t_out = t_model(*[torch.from_numpy(a.copy()) for a in arrays])
        lap("torch_forward")
        j_out = j_model(*[jnp.asarray(a) for a in j_inputs])
        jax.block_until_ready(j_out)
        lap("forward")
        stage = "parity"
        atol, rtol = case.get("atol", 1e-4), case.get("rtol", 1e-4)
        # outputs read as they are, or channels-last moved back (the contract: channels-last
        # wherever torch returns channels-first spatial tensors); the numbers must match
        def compare(j_out, t_out=t_out):
            t_items, j_items = _flat(_values(t_out)), _flat(_values(j_out))
            if len(t_items) != len(j_items):
                raise AssertionError(f"{len(t_items)} outputs in torch, {len(j_items)} in NNX")
            worst, ok = 0.0, True
            for a, b in zip(t_items, j_items):
                c = _compare("output", a, b, None, atol, rtol, guess_layout=True)
                if c.max_diff is None and not c.ok:
                    raise AssertionError(f"{c.note}: torch {c.torch_shape}, NNX {c.nnx_shape}")
                worst = max(worst, c.max_diff or 0.0)
                ok = ok and c.ok
            return worst, ok

        out["max_diff"], ok = compare(j_out)
        if not ok:
            # float32 rounding, or a wrong number? Both models again in float64: a
            # translation computing torch's function matches there far below 1e-4
            out["f64_diff"], ok64 = _float64_diff(t_model, j_model, arrays, j_inputs, compare)
            raise AssertionError(f"max abs diff {out['max_diff']:.3g}"
                                 + (f" (float64: {out['f64_diff']:.1e}{', at parity' if ok64 else ''})"
                                    if out["f64_diff"] is not None else ""))
        stage = "jit"
        j_jit = nnx.jit(lambda m, *xs: m(*xs))(j_model, *[jnp.asarray(a) for a in j_inputs])
        lap("jit")
        out["jit_diff"], ok = compare(j_jit)
        if not ok:
            raise AssertionError(f"under nnx.jit: max abs diff {out['jit_diff']:.3g}")
        stage = None
    except BaseException as e:  # noqa: BLE001 - the stage and the message are the result
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{Path(fr.filename).name}:{fr.lineno}" for fr in reversed(tb)
                      if "_nnx" in fr.filename or "corpus_" in fr.filename), "")
        out["error"] = (f"{type(e).__name__}: {e}".splitlines() or [""])[0][:300] + (f" [{where}]" if where else "")
    out["stage"] = stage
    return out


def _float64_diff(t_model, j_model, arrays, j_inputs, compare):
    """(max abs diff, within tolerance) of both models run in float64 (NaN, False
    when either cannot run so). The models are left in float64."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch
    from flax import nnx

    def wide(a):
        return a.astype(np.float64) if a.dtype == np.float32 else a

    try:
        with jax.enable_x64(True):
            state = nnx.state(j_model)
            nnx.update(j_model, jax.tree.map(
                lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, state))
            t_model.double()
            with torch.no_grad():
                t_out = t_model(*[torch.from_numpy(wide(a)) for a in arrays])
            j_out = j_model(*[jnp.asarray(wide(a)) for a in j_inputs])
            return compare(j_out, t_out)
    except Exception:  # noqa: BLE001 - a model that cannot run in float64 says nothing here
        return float("nan"), False


def _build_nnx(build):
    """The NNX model, its parameters initialised in one compiled program: built
    op by op, every new parameter shape compiles its own initializer (minutes
    for an EfficientNet on this machine). The same Python constructor runs,
    traced; a constructor that cannot be traced is run as it is."""
    import jax
    from flax import nnx

    try:
        graphdef, _ = nnx.split(nnx.eval_shape(lambda: build(rngs=nnx.Rngs(0))))
        state = jax.jit(lambda: nnx.split(build(rngs=nnx.Rngs(0)))[1])()
        model = nnx.merge(graphdef, state)
        arrays = (jax.Array, jax.ShapeDtypeStruct, jax.core.Tracer)
        for _, node in nnx.iter_graph(model):
            if isinstance(node, nnx.Module) and any(isinstance(v, arrays) for v in vars(node).values()):
                # a plain array attribute the constructor computes (vit-pytorch's sin-cos
                # position table) does not come out of a compiled build: built as it is
                return build(rngs=nnx.Rngs(0))
        return model
    except Exception:  # noqa: BLE001 - e.g. a constructor reading a random value in Python
        return build(rngs=nnx.Rngs(0))


def _values(out):
    """Model outputs as arrays: dicts (torchvision segmentation) by key order, dataclasses by field."""
    if isinstance(out, dict) or (hasattr(out, "keys") and hasattr(out, "to_tuple")):
        # (transformers' ModelOutput: a dict in torch, a pytree with keys() in a translation)
        return [_values(out[k]) for k in sorted(out.keys())]
    if isinstance(out, (list, tuple)):
        return [_values(v) for v in out]
    return out


def _worker_main() -> int:
    """A worker process: one case per line of stdin, one RESULT line each (torch
    and JAX are imported once per worker, not once per case; compiled programs
    are cached on disk for the workers after it)."""
    import jax

    jax.config.update("jax_compilation_cache_dir", os.environ["T2N_JAX_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
    for line in sys.stdin:
        if line.strip():
            print("RESULT " + json.dumps(run_case(json.loads(line))), flush=True)
    return 0


# --- the run ---------------------------------------------------------------------


class Worker:
    """A persistent ``--worker`` process, restarted after a case kills it or runs
    over its time, and every ``CASES_PER_WORKER`` cases (compiled programs pile up)."""

    CASES_PER_WORKER = 8

    def __init__(self, root: Path):
        self.root = root
        self.proc = None
        self.served = 0

    def _start(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(self.root / "drivers"), str(self.root / "site"), str(ROOT)]
                                            + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env.setdefault("JAX_PLATFORMS", "cpu")
        env["OMP_NUM_THREADS"] = "1"
        env["T2N_JAX_CACHE"] = str(self.root / "jax-cache")
        self.errlog = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker"], env=env, cwd=self.root, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errlog, bufsize=1)
        self.lines = queue.Queue()
        self.served = 0
        threading.Thread(target=self._read, args=(self.proc, self.lines), daemon=True).start()

    @staticmethod
    def _read(proc, lines):
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def run(self, case: dict, timeout: int) -> dict:
        if self.proc is None or self.proc.poll() is not None or self.served >= self.CASES_PER_WORKER:
            self.stop()
            self._start()
        self.served += 1
        t0 = time.perf_counter()
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        res = None
        while res is None:
            try:
                line = self.lines.get(timeout=max(timeout - (time.perf_counter() - t0), 0.01))
            except queue.Empty:
                self.stop()
                res = {"id": case["id"], "stage": "timeout", "error": f"over {timeout} s"}
                break
            if line is None:  # the process died (native crash, out of memory)
                code = self.proc.wait()
                self.errlog.seek(0)
                err = (self.errlog.read().strip().splitlines() or ["no output"])[-1]
                self.proc = None
                res = {"id": case["id"], "stage": "crash", "error": f"worker died ({code}): {err[:300]}"}
            elif line.startswith("RESULT "):
                res = json.loads(line[len("RESULT "):])
        res["seconds"] = round(time.perf_counter() - t0, 1)
        return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated case ids (or prefixes ending in *)")
    ap.add_argument("--package", help="only the cases of this package")
    ap.add_argument("-j", "--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--keep", type=Path, help="set up in this directory and keep it (default: a temporary one)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per case")
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--resume", action="store_true",
                    help="with --json: keep the results already in that file and run only the other cases")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # internal: run cases from stdin
    args = ap.parse_args(argv)
    if args.worker:
        return _worker_main()
    cases = load_manifest(args.manifest)
    if args.package:
        cases = [c for c in cases if c["package"] == args.package]
    if args.only:
        pats = args.only.split(",")
        cases = [c for c in cases if any(c["id"] == p or (p.endswith("*") and c["id"].startswith(p[:-1]))
                                         for p in pats)]
    if not cases:
        print("realworld: no cases selected", file=sys.stderr)
        return 2
    done = {}
    if args.resume:
        if not args.json:
            print("realworld: --resume needs --json", file=sys.stderr)
            return 2
        if args.json.exists():
            done = {r["id"]: r for r in json.loads(args.json.read_text())}
    tmp = None
    if args.keep:
        root = args.keep.resolve()
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="t2n-realworld-")
        root = Path(tmp.name)
    try:
        todo = [c for c in cases if c["id"] not in done]
        info = prepare(todo, root, args.workers) if todo else {}
        results = {c["id"]: done[c["id"]] for c in cases if c["id"] in done}
        workers = queue.Queue()
        for _ in range(args.workers):
            workers.put(Worker(root))

        def job(case):
            if info[case["id"]]["error"]:
                return {"id": case["id"], "stage": "translate", "error": info[case["id"]]["error"], "seconds": 0.0}
            w = workers.get()
            try:
                return w.run(case, args.timeout)
            finally:
                workers.put(w)

        with ThreadPoolExecutor(args.workers) as pool:
            for res in pool.map(job, todo):
                res["todos"] = info[res["id"]]["todos"]
                results[res["id"]] = res
                if args.json:  # after every case: a run stopped early keeps what it measured
                    _write_json(args.json, [results[c["id"]] for c in cases if c["id"] in results])
                status = "PASS" if res["stage"] is None else "FAIL"
                diff = f"{res['max_diff']:.1e}" if res.get("max_diff") is not None else "-"
                print(f"{status} {res['id']:<44} {res['stage'] or '':<9} diff {diff:<8} TODOs {res['todos']:<3} "
                      f"{res['seconds']:>6.1f}s  {res.get('error') or ''}", flush=True)
        while not workers.empty():
            workers.get().stop()
    finally:
        if tmp is not None:
            tmp.cleanup()
    ordered = [results[c["id"]] for c in cases]
    print()
    print(summary_table(cases, ordered))
    if args.json:
        _write_json(args.json, ordered)
    return 0


def _write_json(path: Path, results: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)


def summary_table(cases: list[dict], results: list[dict]) -> str:
    by_pkg = collections.defaultdict(lambda: [0, 0, 0])
    stages = collections.Counter()
    rounding = sum(1 for r in results if r["stage"] == "parity" and "at parity)" in (r.get("error") or ""))
    for c, r in zip(cases, results):
        row = by_pkg[c["package"]]
        row[0] += 1
        row[1] += r["stage"] is None or r["stage"] == "jit"
        row[2] += r["stage"] is None
        if r["stage"]:
            stages[r["stage"]] += 1
    lines = ["| package | cases | at parity | under nnx.jit |", "|---|---|---|---|"]
    tot = [0, 0, 0]
    for pkg in sorted(by_pkg):
        n, p, j = by_pkg[pkg]
        tot = [tot[0] + n, tot[1] + p, tot[2] + j]
        lines.append(f"| {pkg} | {n} | {p} | {j} |")
    lines.append(f"| **total** | {tot[0]} | {tot[1]} | {tot[2]} |")
    lines.append("")
    lines.append("failing stages: " + (", ".join(f"{s} {stages[s]}" for s in STAGES if stages[s]) or "none"))
    lines.append(f"parity {tot[1]}/{tot[0]}, jit {tot[2]}/{tot[0]}")
    if rounding:
        lines.append(f"failing parity in float32 only ({rounding}): at parity when both models run in float64")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
