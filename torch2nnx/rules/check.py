"""Checking a row's examples: translate each, look for its expected text, run
it against torch (perturbed weights ported through the generated weights
module, rtol = atol = 1e-4). The built-in rows' tests (tests/test_rules.py)
and ``torch2nnx rules --check`` (user rows) both run rows through here.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ATOL = RTOL = 1e-4


def load_module(path: Path, name: str | None = None):
    from ..verify import _load_file

    return _load_file(path, name or f"t2n_{path.stem}_{uuid.uuid4().hex[:8]}")


def translate_files(source: str, tmp: Path, stem: str = "model"):
    """Write the torch source, its translation and weights module; import all three."""
    tmp.mkdir(parents=True, exist_ok=True)
    src = tmp / f"{stem}.py"
    src.write_text(source)
    from ..api import translate

    result = translate(source, str(src), module_name=f"{stem}_nnx")
    out = tmp / f"{stem}_nnx.py"
    out.write_text(result.code)
    wout = tmp / f"{stem}_nnx_weights.py"
    wout.write_text(result.weights_code)
    return result, load_module(src), load_module(out), load_module(wout)


def to_numpy(v):
    import torch

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
    import torch
    from flax import nnx

    from ..verify import perturb

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


@dataclass
class Failure:
    rule: str
    index: int  # the example's position in the row's examples
    torch: str  # the example's torch expression
    message: str

    def line(self) -> str:
        if self.index < 0:  # about the row itself
            return f"{self.rule}: {self.message}"
        return f"{self.rule} example {self.index} ({self.torch}): {self.message}"


def _squash(s: str) -> str:
    # black's formatting aside: whitespace, trailing commas, quote style
    return re.sub(r"\s+|,(?=\s*\))", "", s).replace("'", '"')


def check_example(rule, index: int, ex, tmp: Path) -> None:
    """One example of a call or layer row (not a constant's, not a training
    example's): it translates with no TODO, its translation holds ``expect``,
    and the module built from it matches torch in eval mode (and in training
    mode with ``train``), the weights of a layer row ported through its weight
    map. Raises AssertionError saying what differs."""
    from ..verify import make_input
    from .examples import example_source

    source = example_source(rule, ex)
    result, tmod, jmod, wmod = translate_files(source, tmp)
    todos = [d for d in result.diagnostics if d.needs_todo]
    assert not todos, "\n".join(d.format() for d in todos) + "\n" + result.code
    assert "TODO(torch2nnx)" not in result.code, result.code
    if ex.expect:
        assert _squash(ex.expect) in _squash(result.code), f"{ex.expect!r} not in:\n{result.code}"
    rng = np.random.default_rng(index)
    inputs = [make_input(s, rng) for s in ex.inputs]
    run_parity(result, tmod, jmod, wmod, "M", inputs, train=False, atol=ex.atol, compare=ex.compare)
    if ex.train:
        run_parity(result, tmod, jmod, wmod, "M", inputs, train=True, atol=ex.atol, compare=ex.compare)


def check_rows(rules, tmp: Path) -> tuple[int, list[Failure]]:
    """Every example of ``rules``: (examples run, failures). A row without
    examples is a failure: nothing would say it works."""
    import torch

    from .examples import TRAINING, is_constant

    torch.set_num_threads(1)
    ran, failures = 0, []
    for rule in rules:
        if not rule.examples:
            failures.append(Failure(rule.name, -1, "", "the row has no examples"))
        for i, ex in enumerate(rule.examples):
            ran += 1
            if ex.where in TRAINING or is_constant(rule, ex):
                # optimizers and constants have checks of their own (tests/training_parity.py, test_rules.py)
                failures.append(Failure(rule.name, i, ex.torch, "only call and layer examples can be checked "
                                                                "(not constants or optimizer/scheduler examples)"))
                continue
            try:
                check_example(rule, i, ex, tmp / f"{_slug(rule.name)}_{i}")
            except Exception as e:  # noqa: BLE001 - each example's failure is reported, the others run
                failures.append(Failure(rule.name, i, ex.torch, _summary(e)))
    return ran, failures


def _slug(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _summary(e: Exception) -> str:
    """One line: the error's first line, and numpy's largest difference when it says one."""
    text = [t.strip() for t in str(e).splitlines() if t.strip()]
    parts = [text[0] if text else ""]
    parts += [t for t in text if t.startswith(("Max absolute difference", "Mismatched elements"))]
    return f"{type(e).__name__}: {'; '.join(p for p in parts if p)}"[:400]
