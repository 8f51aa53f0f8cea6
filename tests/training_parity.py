"""Training parity for the torch.optim rows' examples (rules/optim.py): the
example's module ``M`` is translated and its weights ported (perturbed)
through the generated weights module; ``build`` gives the optimizer (or the
scheduler, over ``make_optimizer``'s optimizer) in both worlds; the same
batches train both, and every step's loss, the final parameters (optimizers)
and every step's learning rate (schedulers) must match torch's."""

from __future__ import annotations

import numpy as np
import torch

from harness import perturb, translate_files

STEPS = 12


def _batches(n=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32))
            for _ in range(n)]


def _models(tmod, jmod, wmod):
    from flax import nnx

    torch.manual_seed(0)
    tnet = tmod.M()
    perturb(tnet, seed=3)
    jnet = jmod.M(rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(jnet, tnet.state_dict())
    return tnet, jnet


def _train(tnet, jnet, t_opt, j_opt, t_sched=None, j_sched=None, metrics=None):
    import jax.numpy as jnp
    from flax import nnx

    @nnx.jit
    def step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(lambda m: ((m(x) - y) ** 2).mean())(model)
        optimizer.update(model, grads)
        return loss

    out = {"t_loss": [], "j_loss": [], "t_lr": [], "j_lr": []}
    for i, (x, y) in enumerate(_batches()):
        t_opt.zero_grad()
        loss = ((tnet(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
        loss.backward()
        t_opt.step()
        out["t_loss"].append(loss.item())
        out["j_loss"].append(float(step(jnet, j_opt, jnp.asarray(x), jnp.asarray(y))))
        out["t_lr"].append(t_opt.param_groups[0]["lr"])
        out["j_lr"].append(j_opt.param_groups[0]["lr"])
        if t_sched is not None:
            if metrics is not None:
                t_sched.step(metrics[i])
                j_sched.step(metrics[i])
            else:
                t_sched.step()
                j_sched.step()
    return out


def check_training(rule, ex, source, tmp_path):
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    tnet, jnet = _models(tmod, jmod, wmod)
    rtol = ex.atol
    if ex.where == "optimizer":
        t_opt, j_opt = tmod.build(tnet), jmod.build(jnet)
        out = _train(tnet, jnet, t_opt, j_opt)
        np.testing.assert_allclose(out["j_loss"], out["t_loss"], rtol=rtol)
        assert abs(out["t_loss"][-1] - out["t_loss"][0]) > 10 * rtol * abs(out["t_loss"][0]), "no training"
        t_params = dict(tnet.named_parameters())
        for name, value in t_params.items():
            layer, kind = name.split(".")
            var = getattr(getattr(jnet, layer), "kernel" if kind == "weight" else "bias")
            want = value.detach().numpy()
            np.testing.assert_allclose(np.asarray(var[...]), want.T if kind == "weight" else want,
                                       rtol=rtol, atol=rtol)
        return
    t_opt, j_opt = tmod.make_optimizer(tnet), jmod.make_optimizer(jnet)
    t_sched, j_sched = tmod.build(t_opt), jmod.build(j_opt)
    metrics = None
    if rule.short == "ReduceLROnPlateau":
        metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    out = _train(tnet, jnet, t_opt, j_opt, t_sched, j_sched, metrics)
    np.testing.assert_allclose(out["j_lr"], out["t_lr"], rtol=1e-6)
    assert len(set(np.round(out["t_lr"], 12))) > 1, "the schedule does not move"
    np.testing.assert_allclose(t_sched.get_last_lr(), j_sched.get_last_lr(), rtol=1e-6)
    np.testing.assert_allclose(out["j_loss"], out["t_loss"], rtol=1e-4)
