"""Per layout fixture: transposes the translation inserted, and the speed of the
jit-compiled NNX model against torch eager on the same input.

    python benchmarks/layout_speed.py [--runs 50] [fixture-name ...]

``nnx.jit`` pays a per-call graph traversal (0.5-3 ms on CPU); ``jax.jit`` over
``nnx.split`` state shows the compiled computation alone. torch runs with one thread (two threads on a 2-core machine stall small models
for hundreds of ms); both run in this process, eval mode, median of ``--runs``
calls after warm-up. The figures are for comparison on one machine, not
absolute.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from fixture_cases import cases, config  # noqa: E402
from harness import load_module, make_input, perm_of, perturb, to_nnx_input  # noqa: E402

import torch2nnx  # noqa: E402


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bench(case: Path, runs: int, tmp: Path) -> dict:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    cfg = config(case)
    source = (case / "model.py").read_text()
    result = torch2nnx.translate(source, str(case / "model.py"), module_name="model_nnx")
    out = tmp / case.name
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_nnx.py").write_text(result.code)
    (out / "model_nnx_weights.py").write_text(result.weights_code)
    tmod = load_module(case / "model.py")
    jmod = load_module(out / "model_nnx.py")
    wmod = load_module(out / "model_nnx_weights.py")
    kwargs = cfg.get("kwargs", {})
    t_model = getattr(tmod, cfg["class"])(**kwargs)
    perturb(t_model)
    t_model.eval()
    j_model = getattr(jmod, cfg["class"])(**kwargs, rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(j_model, t_model.state_dict())
    j_model.eval()
    # a batch of 8 for timing
    specs = [s.replace("[2,", "[8,").replace("[1,", "[8,") for s in cfg["inputs"]]
    rng = np.random.default_rng(0)
    inputs = [make_input(s, rng) for s in specs]
    summary = result.layout_of(cfg["class"])
    params = [p for p in summary.params if p != "self"]
    j_inputs = [jnp.asarray(to_nnx_input(a, perm_of(summary.takes.get(params[i])))) for i, a in enumerate(inputs)]
    t_inputs = [torch.from_numpy(a) for a in inputs]

    def run_torch():
        with torch.no_grad():
            t_model(*t_inputs)

    fwd = nnx.jit(lambda m, *xs: m(*xs))
    t0 = time.perf_counter()
    jax.block_until_ready(fwd(j_model, *j_inputs))
    compile_ms = (time.perf_counter() - t0) * 1e3

    def run_nnx():
        jax.block_until_ready(fwd(j_model, *j_inputs))

    # the same model as a pure jax.jit over split state (no nnx graph traversal per call)
    graphdef, state = nnx.split(j_model)
    pure = jax.jit(lambda st, *xs: nnx.merge(graphdef, st)(*xs))
    jax.block_until_ready(pure(state, *j_inputs))

    def run_pure():
        jax.block_until_ready(pure(state, *j_inputs))

    for _ in range(5):
        run_torch()
        run_nnx()
        run_pure()
    return {
        "case": case.name,
        "transposes": sum(result.transposes.values()),
        "expected": cfg.get("transposes", 0),
        "torch_ms": median_ms(run_torch, runs),
        "nnx_jit_ms": median_ms(run_nnx, runs),
        "jax_jit_ms": median_ms(run_pure, runs),
        "compile_ms": compile_ms,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("names", nargs="*", help="fixture names (default: all layout_* fixtures)")
    args = ap.parse_args(argv)
    chosen = [c for c in cases() if (c.name in args.names if args.names else c.name.startswith("layout_"))]
    print(f"{'fixture':24} {'transposes':>10} {'torch eager ms':>15} {'nnx.jit ms':>11} {'jax.jit ms':>11} "
          f"{'jax/torch':>9} {'compile ms':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for case in chosen:
            r = bench(case, args.runs, Path(tmp))
            mark = "" if r["transposes"] == r["expected"] else f" (documented minimum {r['expected']})"
            print(f"{r['case']:24} {r['transposes']:>10} {r['torch_ms']:>15.3f} {r['nnx_jit_ms']:>11.3f} "
                  f"{r['jax_jit_ms']:>11.3f} {r['jax_jit_ms'] / r['torch_ms']:>9.2f} {r['compile_ms']:>11.0f}{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
