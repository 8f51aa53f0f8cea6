"""Parity harness: translate torch source, port perturbed weights through the
generated weights module, run both, compare (rtol = atol = 1e-4)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import torch

# the parity machinery the rows' checks use (rules/check.py), the tests' too
from torch2nnx.rules.check import (ATOL, RTOL, assert_close, from_nnx_output, load_module, max_diff,  # noqa: F401
                                   perm_of, run_parity, to_nnx_input, to_numpy, translate_files)
from torch2nnx.verify import make_input, perturb  # noqa: F401  (the tests' inputs and weights, as verify's)

torch.set_num_threads(1)

def input_grads(result, torch_mod, nnx_mod, weights_mod, cls: str, x, *, jit=False, seed=0):
    """d(sum of outputs)/d(input) of both models (perturbed weights, eval), the NNX
    one brought back to torch's layout of the input. Returns (torch, nnx)."""
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    torch.manual_seed(seed)
    t_model = getattr(torch_mod, cls)()
    perturb(t_model, seed)
    t_model.eval()
    j_model = getattr(nnx_mod, cls)(rngs=nnx.Rngs(0))
    weights_mod.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
    j_model.eval()
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_model(tx).sum().backward()
    summary = result.layout_of(cls)
    params = [p for p in summary.params if p != "self"] if summary else []
    perm = perm_of(summary.takes.get(params[0])) if params else None

    def loss(m, v):
        return m(v).sum()

    grad = nnx.grad(loss, argnums=1)
    g = np.asarray((nnx.jit(grad) if jit else grad)(j_model, jnp.asarray(to_nnx_input(x, perm))))
    return tx.grad.numpy(), from_nnx_output(g, perm)


# --- packages translated next to their sources (the README's default mode) ----------


def translate_beside(root: Path, target: str) -> subprocess.CompletedProcess:
    """``torch2nnx translate TARGET`` run in ``root`` as a user runs it: each
    translation next to its source, the package's imports followed."""
    p = subprocess.run([sys.executable, "-m", "torch2nnx", "translate", target, "--no-cache"],
                       cwd=root, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p


def parity_beside(root: Path, module: str, shape, *, cls: str = "Net", args: str = "",
                  image_out: bool = False, jit: bool = True) -> None:
    """``module.cls(args)`` against its translation beside it, in a fresh
    interpreter (the translation imports its siblings as a user's would):
    perturbed weights ported through the generated weights module, eval mode,
    outputs compared eagerly and under ``nnx.jit``. A rank-4 input goes to NNX
    channels-last; ``image_out`` compares a rank-4 output channels-last too."""
    j_args = f"{args}, rngs=nnx.Rngs(0)" if args else "rngs=nnx.Rngs(0)"
    script = textwrap.dedent(f"""
        import numpy as np, torch, jax.numpy as jnp
        from flax import nnx
        from torch2nnx.verify import perturb
        import {module} as tmod, {module}_nnx as jmod, {module}_nnx_weights as w
        torch.set_num_threads(1)
        t_model = tmod.{cls}({args}); j_model = jmod.{cls}({j_args})
        perturb(t_model, 0)
        w.load_torch_state_dict(j_model, t_model.state_dict())
        t_model.eval(); j_model.eval()
        x = np.random.default_rng(0).standard_normal({tuple(shape)}).astype(np.float32)
        with torch.no_grad():
            ref = t_model(torch.from_numpy(x)).numpy()
        if {image_out!r}:
            ref = ref.transpose(0, 2, 3, 1)
        xj = jnp.asarray(x.transpose(0, 2, 3, 1) if x.ndim == 4 else x)
        np.testing.assert_allclose(np.asarray(j_model(xj)), ref, rtol=1e-4, atol=1e-4)
        if {jit!r}:
            out = nnx.jit(lambda m, v: m(v))(j_model, xj)
            np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4, atol=1e-4)
        print("PARITY OK")
    """)
    p = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True)
    assert "PARITY OK" in p.stdout, p.stderr[-3000:]


def maps_parity_beside(root: Path, module: str, shape, *, builder: str, keys=None) -> None:
    """``module.builder()`` returning a dict of feature maps, against its
    translation beside it (as ``parity_beside``): the same keys in torch's order
    (``keys`` when given), each map compared channels-last, as the contract
    returns images, eagerly and under ``nnx.jit``."""
    script = textwrap.dedent(f"""
        import numpy as np, torch, jax.numpy as jnp
        from flax import nnx
        from torch2nnx.verify import perturb
        import {module} as tmod, {module}_nnx as jmod, {module}_nnx_weights as w
        torch.set_num_threads(1)
        t_model = tmod.{builder}(); j_model = jmod.{builder}(rngs=nnx.Rngs(0))
        perturb(t_model, 0)
        w.load_torch_state_dict(j_model, t_model.state_dict())
        t_model.eval(); j_model.eval()
        x = np.random.default_rng(0).standard_normal({tuple(shape)}).astype(np.float32)
        with torch.no_grad():
            ref = {{k: v.numpy().transpose(0, 2, 3, 1) for k, v in t_model(torch.from_numpy(x)).items()}}
        keys = {list(keys) if keys is not None else None!r}
        assert keys is None or list(ref) == keys, (list(ref), keys)
        xj = jnp.asarray(x.transpose(0, 2, 3, 1))
        for out in (j_model(xj), nnx.jit(lambda m, v: m(v))(j_model, xj)):
            assert list(out) == list(ref), (list(out), list(ref))
            for k in ref:
                np.testing.assert_allclose(np.asarray(out[k]), ref[k], rtol=1e-4, atol=1e-4)
        print("PARITY OK")
    """)
    p = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True)
    assert "PARITY OK" in p.stdout, (builder, p.stderr[-3000:])


def parity_in_package(mod: str, cls: str, x, nnx_x, jit: bool) -> None:
    """``mod.cls()`` against ``mod_nnx.cls`` (translated beside it, importable):
    perturbed weights ported through the weights module, eval mode, outputs
    (a rank-4 one channels-last) and the gradients of a loss with respect to
    every parameter, eagerly or under ``nnx.jit``."""
    import importlib

    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    torch.manual_seed(0)
    t_model = getattr(importlib.import_module(mod), cls)().eval()
    with torch.no_grad():
        for p in t_model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    j_model = getattr(importlib.import_module(mod + "_nnx"), cls)(rngs=nnx.Rngs(0))
    importlib.import_module(mod + "_nnx_weights").load_torch_state_dict(j_model, t_model.state_dict())
    j_model.eval()
    t_out = t_model(torch.from_numpy(x))
    call = nnx.jit(lambda m, v: m(v)) if jit else (lambda m, v: m(v))
    out = np.asarray(call(j_model, nnx_x))
    want = t_out.detach().numpy()
    if want.ndim == 4:
        want = want.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    # gradients of a loss with respect to every parameter
    t_model.zero_grad()
    (t_out ** 2).sum().backward()
    t_grads = {n: p.grad.numpy() for n, p in t_model.named_parameters()}

    def loss(m):
        return jnp.sum(m(nnx_x) ** 2)

    grads = nnx.grad(loss)(j_model)
    flat = {".".join(map(str, k)): np.asarray(v.get_value() if hasattr(v, "get_value") else v)
            for k, v in nnx.to_flat_state(grads)}
    for name, g in t_grads.items():
        prefix, _, leaf = name.rpartition(".")
        # torch's weight is NNX's kernel (Linear, conv) or scale (norms)
        key = next((k for k in ({"weight": ("kernel", "scale")}.get(leaf, ()) + (leaf,))
                    if f"{prefix}.{k}" in flat), leaf)
        got = flat.get(f"{prefix}.{key}", flat.get(name))
        assert got is not None, (name, sorted(flat))
        if got.ndim == 4:
            g = g.transpose(2, 3, 1, 0)  # a conv's weight, in NNX's kernel order
        elif got.ndim == 2 and key == "kernel":
            g = g.T
        np.testing.assert_allclose(got, g, rtol=1e-4, atol=1e-4, err_msg=name)
