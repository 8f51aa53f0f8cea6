"""Losses (issue 16): every example of every loss row (rules/losses.py) gives
torch's value and torch's gradient with respect to each float input, at
rtol = atol = 1e-5 (test_rules.py checks the values at 1e-4; here the
gradients too, since a loss is there to be differentiated). Inputs that reach
the loss channels-last (through a convolution) check the transposes."""

from __future__ import annotations

import numpy as np
import pytest

from harness import make_input, perm_of, perturb, to_nnx_input, translate_files
from torch2nnx.rules import losses
from torch2nnx.rules.examples import example_source

TOL = 1e-5
CASES = [(r, i, e) for r in losses.RULES for i, e in enumerate(r.examples)]


def test_every_loss_row_has_examples():
    assert all(r.examples for r in losses.RULES)
    # a functional row and a module row per loss
    names = {r.name for r in losses.RULES}
    assert "torch.nn.CrossEntropyLoss" in names and "torch.nn.functional.cross_entropy" in names


@pytest.mark.parametrize("case", CASES, ids=[f"{r.name}-{i}" for r, i, _ in CASES])
def test_loss_value_and_gradient(case, tmp_path):
    import jax
    import jax.numpy as jnp
    import torch
    from flax import nnx

    rule, i, ex = case
    result, tmod, jmod, wmod = translate_files(example_source(rule, ex), tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    rng = np.random.default_rng(10 + i)
    inputs = [make_input(s, rng) for s in ex.inputs]
    torch.manual_seed(0)
    t_model = tmod.M()
    perturb(t_model, 0)
    t_model.eval()
    j_model = jmod.M(rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
    j_model.eval()
    summary = result.layout_of("M")
    params = [p for p in summary.params if p != "self"]
    perms = [perm_of(summary.takes.get(params[k])) for k in range(len(inputs))]
    floats = [k for k, a in enumerate(inputs) if a.dtype.kind == "f"]

    t_in = [torch.from_numpy(a.copy()).requires_grad_(a.dtype.kind == "f") for a in inputs]
    t_out = t_model(*t_in)
    cot = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)  # weighs a 'none' reduction
    (t_out * torch.from_numpy(cot)).sum().backward()
    t_grads = [np.zeros_like(inputs[k]) if t_in[k].grad is None else t_in[k].grad.numpy() for k in floats]

    j_in = [jnp.asarray(to_nnx_input(a, p)) for a, p in zip(inputs, perms)]

    def f(*fl):
        args = list(j_in)
        for k, v in zip(floats, fl):
            args[k] = v
        out = j_model(*args)
        return (out * cot).sum(), out

    (_, j_out), j_grads = jax.value_and_grad(f, argnums=tuple(range(len(floats))), has_aux=True)(
        *[j_in[k] for k in floats])
    np.testing.assert_allclose(np.asarray(j_out), t_out.detach().numpy(), rtol=TOL, atol=TOL, err_msg="value")
    for k, tg, jg in zip(floats, t_grads, j_grads):
        jg = np.asarray(jg)
        if perms[k] is not None:
            jg = np.transpose(jg, np.argsort(perms[k]))
        np.testing.assert_allclose(jg, tg, rtol=TOL, atol=TOL, err_msg=f"gradient of input {k}")


def test_loss_with_legacy_arguments_is_marked(tmp_path):
    src = ("import torch.nn as nn\nimport torch.nn.functional as F\n\n"
           "crit = nn.MSELoss(size_average=False)\n\n\n"
           "def f(x, y):\n    return F.l1_loss(x, y, reduce=False)\n")
    import torch2nnx

    result = torch2nnx.translate(src, "legacy.py")
    codes = [d.code for d in result.diagnostics]
    assert codes.count("T2N002") == 2, result.code
    assert result.code.count("TODO(torch2nnx)") >= 2
    compile(result.code, "legacy_nnx.py", "exec")
