"""Memory and time of ``torch2nnx convert`` on a checkpoint of >= 300 MB.

    python benchmarks/convert_memory.py [--dim 4096] [--depth 5]

Builds a wide MLP (``depth`` Linear(dim, dim) layers; the default is 320 MB of
float32), saves its state_dict as ``.pt`` and ``.safetensors``, and converts
each to an Orbax checkpoint in a fresh interpreter. Peak resident memory is
measured from the moment everything is imported and the translation loaded
(Linux: the peak counter is reset through /proc/self/clear_refs and read from
VmHWM; elsewhere a sampling thread), and compared with the checkpoint's size.
Time is compared with a baseline doing no mapping at all: read the same
tensors with safetensors, write them with Orbax. Goals: memory <= 1.3x the
checkpoint, time <= 2x the baseline. A benchmark, not a test: the numbers
move with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MODEL = """
import torch.nn as nn


class WideMLP(nn.Module):
    def __init__(self, dim=4096, depth=5):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).relu()
        return self.norm(x)
"""


def rss_now() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Peak:
    """Peak RSS from now on: VmHWM after resetting it, or sampling."""

    def __init__(self):
        self.start = rss_now()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # resets the peak-RSS counter (Linux >= 4.0)
            self.thread = None
        except OSError:
            self.high, self.stop = self.start, False
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()

    def _sample(self):
        while not self.stop:
            self.high = max(self.high, rss_now())
            time.sleep(0.002)

    def above_start(self) -> int:
        if self.thread is None:
            with open("/proc/self/status") as fh:
                hwm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM"))
            return hwm - self.start
        self.stop = True
        self.thread.join()
        return self.high - self.start


def child(mode: str, ckpt: str, out: str, src: str, dim: int, depth: int, fmt: str) -> None:
    """One measurement in this (fresh) interpreter; prints a JSON line."""
    import jax
    import numpy as np  # noqa: F401
    import orbax.checkpoint as ocp
    import torch  # noqa: F401
    from safetensors import safe_open

    from torch2nnx.checkpoints import convert_checkpoint
    from torch2nnx.checkpoints.target import translated_model
    from torch2nnx.checkpoints.write import nested

    if mode == "baseline":
        peak = Peak()
        t = time.perf_counter()
        with safe_open(ckpt, framework="numpy") as fh:
            # jax arrays, as convert hands Orbax (numpy ones cost Orbax twice the memory)
            tree = nested({k: jax.device_put(fh.get_tensor(k)) for k in fh.keys()})
        checkpointer = ocp.StandardCheckpointer()
        checkpointer.save(Path(out).absolute(), tree)
        checkpointer.wait_until_finished()
        checkpointer.close()
        seconds = time.perf_counter() - t
    else:
        with translated_model(Path(src), "WideMLP", {"dim": dim, "depth": depth}) as (build, wmod, _):
            peak = Peak()
            t = time.perf_counter()
            convert_checkpoint(build, wmod, ckpt, out, fmt=fmt)
            seconds = time.perf_counter() - t
    print(json.dumps({"mode": mode, "seconds": seconds, "peak_above": peak.above_start()}))


def measure(mode, ckpt, out, src, dim, depth, fmt="orbax") -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent) + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, __file__, "--child", mode, ckpt, out, src, str(dim), str(depth), fmt],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, ckpt, out, src, dim, depth, fmt = sys.argv[2:9]
        child(mode, ckpt, out, src, int(dim), int(depth), fmt)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--depth", type=int, default=5)
    args = ap.parse_args()

    import torch
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory(prefix="t2n-convert-bench-") as tmp:
        d = Path(tmp)
        src = d / "mlp.py"
        src.write_text(MODEL)
        sys.path.insert(0, str(d))
        import mlp  # noqa: E402

        sd = mlp.WideMLP(args.dim, args.depth).state_dict()
        size = sum(t.numel() * t.element_size() for t in sd.values())
        torch.save(sd, d / "mlp.pt")
        save_file(sd, str(d / "mlp.safetensors"))
        del sd, mlp
        print(f"checkpoint: {size / 2**20:.0f} MiB ({args.depth} x Linear({args.dim}, {args.dim}) + LayerNorm)")
        base = measure("baseline", str(d / "mlp.safetensors"), str(d / "base"), str(src), args.dim, args.depth)
        print(f"baseline (safetensors read + Orbax write, no mapping): {base['seconds']:.2f} s, "
              f"peak +{base['peak_above'] / 2**20:.0f} MiB")
        worst_mem = worst_time = 0.0
        for fmt in ("orbax", "safetensors"):
            for kind in ("mlp.pt", "mlp.safetensors"):
                r = measure("convert", str(d / kind), str(d / f"out-{kind}.{fmt}"), str(src), args.dim,
                            args.depth, fmt)
                mem, slow = r["peak_above"] / size, r["seconds"] / base["seconds"]
                if fmt == "orbax":  # the measure: the default output format
                    worst_mem, worst_time = max(worst_mem, mem), max(worst_time, slow)
                print(f"convert {kind} -> {fmt}: {r['seconds']:.2f} s, peak +{r['peak_above'] / 2**20:.0f} MiB "
                      f"-> memory {mem:.2f}x checkpoint (goal <= 1.3), time {slow:.2f}x baseline (goal <= 2)")
        print(f"orbax output, worst of .pt and .safetensors: memory {worst_mem:.2f}x, time {worst_time:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
