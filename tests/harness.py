"""Parity harness: translate torch source, port perturbed weights through the
generated weights module, run both, compare (rtol = atol = 1e-4)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import torch

import torch2nnx
from torch2nnx.verify import make_input, perturb  # noqa: F401  (the tests' inputs and weights, as verify's)

torch.set_num_threads(1)

ATOL = RTOL = 1e-4


def load_module(path: Path, name: str | None = None):
    name = name or f"t2n_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def translate_files(source: str, tmp: Path, stem: str = "model"):
    """Write the torch source, its translation and weights module; import all three."""
    tmp.mkdir(parents=True, exist_ok=True)
    src = tmp / f"{stem}.py"
    src.write_text(source)
    result = torch2nnx.translate(source, str(src), module_name=f"{stem}_nnx")
    out = tmp / f"{stem}_nnx.py"
    out.write_text(result.code)
    wout = tmp / f"{stem}_nnx_weights.py"
    wout.write_text(result.weights_code)
    return result, load_module(src), load_module(out), load_module(wout)


def to_numpy(v):
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy()
    if isinstance(v, (tuple, list)) and not isinstance(v, torch.Size):
        return [to_numpy(x) for x in v]
    if isinstance(v, torch.Size):
        return np.asarray(tuple(v))
    return np.asarray(v)


def perm_of(tag):
    """The permutation a summary tag puts on an array, or None."""
    if tag is None or getattr(tag, "kind", None) != "tensor" or tag.perm is None:
        return None
    if tuple(tag.perm) == tuple(range(len(tag.perm))):
        return None
    return tuple(tag.perm)


def to_nnx_input(arr, perm):
    return np.transpose(arr, perm) if perm is not None and arr.ndim == len(perm) else arr


def from_nnx_output(arr, perm):
    if perm is None or arr.ndim != len(perm):
        return arr
    return np.transpose(arr, np.argsort(perm))


def assert_close(t_out, j_out, atol=ATOL, what="output"):
    if isinstance(t_out, list):
        assert isinstance(j_out, (list, tuple)), f"{what}: torch gives a sequence, nnx {type(j_out)}"
        assert len(t_out) == len(j_out), f"{what}: {len(t_out)} vs {len(j_out)} items"
        for i, (a, b) in enumerate(zip(t_out, j_out)):
            assert_close(a, b, atol, f"{what}[{i}]")
        return
    j = np.asarray(j_out)
    t = np.asarray(t_out)
    assert t.shape == j.shape, f"{what}: shape torch {t.shape} vs nnx {j.shape}"
    if t.dtype == bool or j.dtype == bool:
        np.testing.assert_array_equal(t, j, err_msg=what)
        return
    np.testing.assert_allclose(j.astype(np.float64), t.astype(np.float64), rtol=RTOL, atol=atol, err_msg=what)


def max_diff(t_out, j_out) -> float:
    if isinstance(t_out, list):
        return max((max_diff(a, b) for a, b in zip(t_out, j_out)), default=0.0)
    t, j = np.asarray(t_out, np.float64), np.asarray(j_out, np.float64)
    return float(np.max(np.abs(t - j))) if t.size else 0.0


def run_parity(result, torch_mod, nnx_mod, weights_mod, cls: str, inputs, *, kwargs=None, train=False,
               atol=ATOL, compare="allclose", seed=0, jit=False, layout_class=None):
    """Build both models, port perturbed weights, compare outputs. Returns max diff."""
    from flax import nnx

    kwargs = kwargs or {}
    # kwargs may depend on the module (block=BasicBlock) and, for built
    # arguments (features=make_layers(...)), on rngs (None for torch)
    from flax import nnx as _nnx

    t_kwargs = kwargs(torch_mod, None) if callable(kwargs) else kwargs
    j_kwargs = kwargs(nnx_mod, _nnx.Rngs(1)) if callable(kwargs) else kwargs
    torch.manual_seed(seed)
    t_model = getattr(torch_mod, cls)(**t_kwargs)
    if compare != "stats":
        perturb(t_model, seed)
    j_model = getattr(nnx_mod, cls)(**j_kwargs, rngs=nnx.Rngs(0))
    if compare != "stats":
        weights_mod.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
    # a builder function's model: the layouts of the class it returns
    summary = result.layout_of(layout_class or cls)
    params = [p for p in summary.params if p != "self"] if summary else []
    j_inputs = []
    for i, arr in enumerate(inputs):
        perm = perm_of(summary.takes.get(params[i])) if summary and i < len(params) else None
        j_inputs.append(to_nnx_input(arr, perm))
    t_inputs = [torch.from_numpy(a.copy()) for a in inputs]  # torch may write into its inputs
    if train:
        t_model.train()
        j_model.train()
    else:
        t_model.eval()
        j_model.eval()
    with torch.no_grad():
        t_out = None if compare == "identity" else to_numpy(t_model(*t_inputs))
    import jax.numpy as jnp

    if jit:
        from flax import nnx as _nnx

        j_raw = _nnx.jit(lambda m, *xs: m(*xs))(j_model, *[jnp.asarray(a) for a in j_inputs])
    else:
        j_raw = j_model(*[jnp.asarray(a) for a in j_inputs])
    ret = summary.returns if summary else None
    out_perm = perm_of(ret)
    if isinstance(j_raw, (tuple, list)):
        # a tuple of outputs: each item has its own layout
        items = ret.module if ret is not None and ret.kind == "seq" and isinstance(ret.module, tuple) else None
        perms = [perm_of(t) for t in items] if items and len(items) == len(j_raw) else \
            [perm_of(ret.with_(kind="tensor")) if ret is not None and ret.kind == "seq" else None] * len(j_raw)
        j_out = [from_nnx_output(np.asarray(v), p) if not isinstance(v, (tuple, list)) else v
                 for v, p in zip(j_raw, perms)]
    else:
        j_out = from_nnx_output(np.asarray(j_raw), out_perm)
    if compare == "identity":
        # ops that only move data between devices: the NNX result is the input
        assert_close(inputs[0], j_out, atol)
        return 0.0
    if compare == "stats":
        # re-initialisations: the same distribution (moments of a large draw)
        t, j = np.asarray(t_out, np.float64), np.asarray(j_out, np.float64)
        assert t.size == j.size, (t.shape, j.shape)
        scale = max(t.std(), 1e-6)
        assert abs(t.mean() - j.mean()) < 0.05 * scale + 1e-6, (t.mean(), j.mean())
        assert abs(t.std() - j.std()) < 0.05 * scale + 1e-6, (t.std(), j.std())
        assert abs(t.min() - j.min()) < 0.6 * scale + 1e-6 and abs(t.max() - j.max()) < 0.6 * scale + 1e-6, \
            ((t.min(), t.max()), (j.min(), j.max()))
        return 0.0
    if compare == "shape":
        assert np.asarray(t_out).shape == np.asarray(j_out).shape
        return 0.0
    assert_close(t_out, j_out, atol)
    if train:
        # running statistics follow torch (the variance unbiased: TorchBatchNorm)
        sd = t_model.state_dict()
        entries = {k: v for k, v, _, _ in weights_mod.torch_key_map(j_model)}
        for k in sd:
            if k.endswith(("running_mean", "running_var")):
                assert_close(sd[k].numpy(), np.asarray(entries[k].get_value()), atol, k)
    return max_diff(t_out, j_out)


def input_grads(result, torch_mod, nnx_mod, weights_mod, cls: str, x, *, jit=False, seed=0):
    """d(sum of outputs)/d(input) of both models (perturbed weights, eval), the NNX
    one brought back to torch's layout of the input. Returns (torch, nnx)."""
    import jax.numpy as jnp
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
