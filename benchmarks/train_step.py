"""Time per training step: the translated CNN and GPT of the training fixtures
under ``nnx.jit`` against torch eager on the same batch (issue 16).

    python benchmarks/train_step.py [--steps N]

The models and the optimizer builders are the fixtures' own translations
(``fixtures/train_cnn`` and ``fixtures/train_gpt``, their ``expected/``
outputs, translated afresh first so the numbers are this checkout's): the
torch step is ``zero_grad(); loss.backward(); optimizer.step()``, the NNX step
the same loss under ``nnx.value_and_grad`` and ``optimizer.update`` compiled
with ``nnx.jit``. One thread for torch (2 threads stall small models on this
machine); the first (compiling) NNX step is timed apart. Prints the median
time of each and their ratio. A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _translated(fixture: str, out: Path):
    """The fixture's torch module, its translation and weights module (made now)."""
    from torch2nnx import translate
    from torch2nnx.verify import _load_file as _load

    src = ROOT / "fixtures" / fixture / "model.py"
    res = translate(src.read_text(), str(src), module_name=f"{fixture}_nnx")
    (out / f"{fixture}_nnx.py").write_text(res.code)
    (out / f"{fixture}_nnx_weights.py").write_text(res.weights_code)
    return (_load(src, f"{fixture}_torch"), _load(out / f"{fixture}_nnx.py", f"{fixture}_nnx"),
            _load(out / f"{fixture}_nnx_weights.py", f"{fixture}_nnx_weights"))


def _median(fn, steps: int) -> float:
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(name, t_model, t_opt, t_loss, j_model, j_opt, j_loss, t_batch, j_batch, steps):
    import jax
    from flax import nnx

    def torch_step():
        t_opt.zero_grad()
        loss = t_loss(t_model, *t_batch)
        loss.backward()
        t_opt.step()
        return loss

    @nnx.jit
    def nnx_step(model, optimizer, *batch):
        loss, grads = nnx.value_and_grad(lambda m: j_loss(m, *batch))(model)
        optimizer.update(model, grads)
        return loss

    t_model.train()
    j_model.train()
    torch_step()  # warm-up
    t0 = time.perf_counter()
    jax.block_until_ready(nnx_step(j_model, j_opt, *j_batch))
    compile_s = time.perf_counter() - t0
    t_s = _median(torch_step, steps)
    j_s = _median(lambda: jax.block_until_ready(nnx_step(j_model, j_opt, *j_batch)), steps)
    print(f"{name:4s} torch eager {t_s * 1e3:8.2f} ms/step   NNX nnx.jit {j_s * 1e3:8.2f} ms/step   "
          f"ratio NNX/torch {j_s / t_s:5.2f}   (first NNX step, compiling: {compile_s:.1f} s)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args(argv)

    import numpy as np
    import jax.numpy as jnp
    import torch
    import torch.nn.functional as F
    from flax import nnx

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        tmod, jmod, wmod = _translated("train_cnn", out)
        torch.manual_seed(0)
        t_model = tmod.SmallCNN()
        j_model = jmod.SmallCNN(rngs=nnx.Rngs(0))
        wmod.load_torch_state_dict(j_model, t_model.state_dict())
        t_opt = torch.optim.AdamW(t_model.parameters(), lr=0.01, weight_decay=0.05)
        j_opt = jmod.TorchOptimizer(j_model, jmod.torch_adamw(lr=0.01, weight_decay=0.05), wrt=nnx.Param)
        x = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
        y = rng.integers(0, 5, 32)
        bench("CNN", t_model, t_opt, lambda m, x, y: F.cross_entropy(m(x), y, label_smoothing=0.1),
              j_model, j_opt, lambda m, x, y: jmod.cross_entropy(m(x), y, label_smoothing=0.1),
              (torch.from_numpy(x), torch.from_numpy(y)),
              (jnp.asarray(x.transpose(0, 2, 3, 1)), jnp.asarray(y)), args.steps)

        tmod, jmod, wmod = _translated("train_gpt", out)
        torch.manual_seed(0)
        t_model = tmod.TinyGPT(vocab=64, d=64, heads=4, layers=2, block=32)
        j_model = jmod.TinyGPT(vocab=64, d=64, heads=4, layers=2, block=32, rngs=nnx.Rngs(0))
        wmod.load_torch_state_dict(j_model, t_model.state_dict())
        t_opt = tmod.configure_optimizer(t_model, 3e-3, 0.1)
        j_opt = jmod.configure_optimizer(j_model, 3e-3, 0.1)
        idx = rng.integers(0, 64, (16, 32))
        tgt = rng.integers(0, 64, (16, 32))

        def t_loss(m, x, y):
            logits = m(x)
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

        def j_loss(m, x, y):
            logits = m(x)
            return jmod.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

        bench("GPT", t_model, t_opt, t_loss, j_model, j_opt, j_loss,
              (torch.from_numpy(idx), torch.from_numpy(tgt)), (jnp.asarray(idx), jnp.asarray(tgt)), args.steps)


if __name__ == "__main__":
    main()
