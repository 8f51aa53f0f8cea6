"""Check a translation of examples/cnn.py against the torch original.

    python examples/check_example.py out/cnn_nnx.py [--weights out/cnn_nnx_weights.py]

Builds the torch ``CNN``, perturbs its parameters and BatchNorm statistics away
from their defaults (default init -- unit scales, zero biases, 0/1 running
statistics -- would hide a dropped statistic or a swapped affine parameter),
ports the state_dict into the translated NNX ``CNN`` through the generated
weights module, runs both in eval mode on the same random input (N,C,H,W for
torch, N,H,W,C for NNX) and prints the largest absolute difference. Exits 1
when it is above the tolerance.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch
from flax import nnx

HERE = Path(__file__).resolve().parent
TOLERANCE = 1e-4


def load_module(path: Path, name: str):
    """Import a Python file by path (the translations are not in a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def perturb(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Move every parameter and BatchNorm statistic away from its default."""
    state = model.state_dict()
    new = {}
    for key, p in state.items():
        if not p.is_floating_point():  # num_batches_tracked
            new[key] = p
            continue
        noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        if key.endswith("running_mean"):
            new[key] = noise * 0.5
        elif key.endswith("running_var"):
            new[key] = torch.rand(p.shape, generator=gen, dtype=p.dtype) + 0.5
        elif not p.abs().sum():  # zero-initialised: give it a scale of its own
            new[key] = 0.1 * noise
        else:
            scale = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            new[key] = p * (1 + 0.2 * scale) + 0.1 * p.abs().mean() * noise
    model.load_state_dict(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("translation", type=Path, help="the translated module, e.g. out/cnn_nnx.py")
    parser.add_argument("--weights", type=Path, default=None,
                        help="the generated weights module (default: <translation stem>_weights.py next to it)")
    parser.add_argument("--source", type=Path, default=HERE / "cnn.py", help="the torch module (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=32, help="input height and width")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    translation = args.translation
    weights = args.weights or translation.with_name(translation.stem + "_weights.py")
    for path in (args.source, translation, weights):
        if not path.is_file():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    torch_mod = load_module(args.source, "example_torch_cnn")
    nnx_mod = load_module(translation, translation.stem)
    weights_mod = load_module(weights, weights.stem)

    torch_model = torch_mod.CNN(num_classes=10)
    perturb(torch_model, gen)
    torch_model.eval()

    nnx_model = nnx_mod.CNN(num_classes=10, rngs=nnx.Rngs(0))
    weights_mod.load_torch_state_dict(nnx_model, torch_model.state_dict(), strict=True)
    nnx_model.eval()

    x = torch.randn(args.batch, 3, args.size, args.size, generator=gen)
    with torch.no_grad():
        expected = torch_model(x).numpy()
    got = np.asarray(nnx_model(x.permute(0, 2, 3, 1).numpy()))  # N,C,H,W -> N,H,W,C
    if got.ndim == 4:  # a spatial output comes back channels-last
        got = got.transpose(0, 3, 1, 2)

    if got.shape != expected.shape:
        print(f"shape mismatch: torch {expected.shape}, nnx {got.shape} (FAIL)")
        return 1
    diff = float(np.max(np.abs(got - expected)))
    ok = diff <= TOLERANCE
    print(f"output shape {expected.shape}, max |torch| {float(np.max(np.abs(expected))):.3g}")
    print(f"max abs diff: {diff:.2g} ({'OK' if ok else f'FAIL: above {TOLERANCE:g}'})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
