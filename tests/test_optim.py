"""torch.optim's optimizers and schedulers (runtime/optim.py) against torch:
the same model, weights and batches; every step's loss and the final
parameters match (relative 1e-4 for SGD, 1e-3 for the adaptive rules), and
each scheduler's learning-rate sequence equals torch's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import jax
import jax.numpy as jnp
from flax import nnx

from torch2nnx.runtime import optim as T

torch.set_num_threads(1)

STEPS = 8


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(5, 16)
        self.fc2 = torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


class NnxNet(nnx.Module):
    def __init__(self, *, rngs):
        self.fc1 = nnx.Linear(5, 16, rngs=rngs)
        self.fc2 = nnx.Linear(16, 3, rngs=rngs)

    def __call__(self, x):
        return self.fc2(jnp.tanh(self.fc1(x)))


def pair(seed=0):
    torch.manual_seed(seed)
    tnet = TorchNet()
    jnet = NnxNet(rngs=nnx.Rngs(0))
    for name in ("fc1", "fc2"):
        t, j = getattr(tnet, name), getattr(jnet, name)
        # numpy copies torch never sees: the transfer to JAX may read its buffer
        # after this returns (asynchronous dispatch), and torch's training then
        # updates its parameter memory in place
        j.kernel[...] = jnp.asarray(np.array(t.weight.detach().numpy().T, copy=True))
        j.bias[...] = jnp.asarray(np.array(t.bias.detach().numpy(), copy=True))
    return tnet, jnet


def batches(n=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32))
            for _ in range(n)]


def params_close(tnet, jnet, rtol):
    for name in ("fc1", "fc2"):
        t, j = getattr(tnet, name), getattr(jnet, name)
        np.testing.assert_allclose(np.asarray(j.kernel[...]), t.weight.detach().numpy().T, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(np.asarray(j.bias[...]), t.bias.detach().numpy(), rtol=rtol, atol=rtol)


def make_train_step():
    """A jitted training step of its own per run."""

    @nnx.jit
    def train_step(model, optimizer, x, y):
        def loss_fn(model):
            return ((model(x) - y) ** 2).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    return train_step


# (torch class, runtime builder, keyword arguments, relative tolerance)
OPTIMIZERS = [
    ("SGD", T.torch_sgd, dict(lr=0.1), 1e-4),
    ("SGD", T.torch_sgd, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01), 1e-4),
    ("SGD", T.torch_sgd, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05), 1e-4),
    ("SGD", T.torch_sgd, dict(lr=0.05, momentum=0.5, maximize=True), 1e-4),
    ("Adam", T.torch_adam, dict(lr=0.01), 1e-3),
    ("Adam", T.torch_adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True), 1e-3),
    ("AdamW", T.torch_adamw, dict(lr=0.01), 1e-3),
    ("AdamW", T.torch_adamw, dict(lr=0.02, weight_decay=0.3, amsgrad=True), 1e-3),
    ("RMSprop", T.torch_rmsprop, dict(lr=0.01), 1e-3),
    ("RMSprop", T.torch_rmsprop, dict(lr=0.005, momentum=0.9, centered=True, weight_decay=0.01), 1e-3),
    ("Adagrad", T.torch_adagrad, dict(lr=0.1), 1e-3),
    ("Adagrad", T.torch_adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.1), 1e-3),
    ("Adamax", T.torch_adamax, dict(lr=0.02), 1e-3),
    ("Adamax", T.torch_adamax, dict(lr=0.02, betas=(0.8, 0.9), weight_decay=0.05), 1e-3),
    ("NAdam", T.torch_nadam, dict(lr=0.01), 1e-3),
    ("NAdam", T.torch_nadam, dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01), 1e-3),
    ("NAdam", T.torch_nadam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), 1e-3),
    ("RAdam", T.torch_radam, dict(lr=0.01), 1e-3),
    ("RAdam", T.torch_radam, dict(lr=0.01, weight_decay=0.1), 1e-3),
    ("RAdam", T.torch_radam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), 1e-3),
]


def run_torch(tnet, opt, data, sched=None):
    losses, lrs = [], []
    for x, y in data:
        opt.zero_grad()
        loss = ((tnet(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        lrs.append(opt.param_groups[0]["lr"])
        if sched is not None:
            sched.step()
    return losses, lrs


def run_nnx(jnet, opt, data, sched=None):
    losses, lrs = [], []
    train_step = make_train_step()
    for x, y in data:
        losses.append(float(train_step(jnet, opt, jnp.asarray(x), jnp.asarray(y))))
        lrs.append(opt.param_groups[0]["lr"])
        if sched is not None:
            sched.step()
    return losses, lrs


@pytest.mark.parametrize("name,builder,kwargs,rtol", OPTIMIZERS,
                         ids=[f"{o[0]}-{i}" for i, o in enumerate(OPTIMIZERS)])
def test_optimizer_matches_torch_step_by_step(name, builder, kwargs, rtol):
    tnet, jnet = pair()
    data = batches(STEPS if name != "RAdam" else 12)  # RAdam rectifies from step 6 on
    t_losses, _ = run_torch(tnet, getattr(torch.optim, name)(tnet.parameters(), **kwargs), data)
    opt = T.TorchOptimizer(jnet, builder(**kwargs), wrt=nnx.Param)
    assert isinstance(opt, nnx.Optimizer)
    j_losses, _ = run_nnx(jnet, opt, data)
    np.testing.assert_allclose(j_losses, t_losses, rtol=rtol)
    # the parameters moved (a rule that does nothing would pass the first loss)
    assert abs(t_losses[-1] - t_losses[0]) > 10 * rtol * abs(t_losses[0])
    params_close(tnet, jnet, rtol)


def test_torch_default_weight_decay_of_adamw():
    """AdamW's weight decay is torch's 0.01 when not given (optax's is 1e-4)."""
    tnet, jnet = pair()
    data = batches()
    torch_opt = torch.optim.AdamW(tnet.parameters(), lr=0.05)
    assert torch_opt.param_groups[0]["weight_decay"] == 0.01
    opt = T.TorchOptimizer(jnet, T.torch_adamw(lr=0.05))
    assert opt.param_groups[0]["weight_decay"] == 0.01
    np.testing.assert_allclose(run_nnx(jnet, opt, data)[0], run_torch(tnet, torch_opt, data)[0], rtol=1e-3)


def test_param_groups_read_and_set_the_learning_rate():
    _, jnet = pair()
    opt = nnx.Optimizer(jnet, T.torch_adam(lr=0.01, betas=(0.8, 0.9)), wrt=nnx.Param)
    groups = T.optimizer_param_groups(opt)
    assert groups[0]["lr"] == 0.01 and groups[0]["betas"] == (0.8, 0.9)
    groups[0]["lr"] = 0.3
    assert float(opt.opt_state.hyperparams["learning_rate"][...]) == pytest.approx(0.3)
    assert groups[0]["lr"] == 0.3  # the Python float torch would hold
    # a value set on the state directly reads back from there
    opt.opt_state.hyperparams["learning_rate"][...] = jnp.asarray(0.125)
    assert groups[0]["lr"] == 0.125


def _lr_sequence(make_torch, make_nnx, steps, optimizer=("SGD", T.torch_sgd, dict(lr=0.1, momentum=0.9)),
                 metrics=None):
    tnet, jnet = pair()
    name, builder, kwargs = optimizer
    t_opt = getattr(torch.optim, name)(tnet.parameters(), **kwargs)
    j_opt = T.TorchOptimizer(jnet, builder(**kwargs))
    t_sched, j_sched = make_torch(t_opt), make_nnx(j_opt)
    t_lrs, j_lrs, t_last, j_last, t_mom, j_mom = [], [], [], [], [], []
    for i in range(steps):
        t_lrs.append(t_opt.param_groups[0]["lr"])
        j_lrs.append(j_opt.param_groups[0]["lr"])
        key = "betas" if "betas" in t_opt.param_groups[0] else "momentum"
        t_mom.append(np.ravel(t_opt.param_groups[0][key])[0])
        j_mom.append(np.ravel(j_opt.param_groups[0][key])[0])
        t_opt.step()
        if metrics is None:
            t_sched.step()
            j_sched.step()
        else:
            t_sched.step(metrics[i])
            j_sched.step(jnp.asarray(metrics[i]))
        t_last.append(t_sched.get_last_lr()[0])
        j_last.append(j_sched.get_last_lr()[0])
    return (t_lrs, j_lrs), (t_last, j_last), (t_mom, j_mom), j_opt


def _warmup(epoch):
    return min(1.0, (epoch + 1) / 4)


S = torch.optim.lr_scheduler
SCHEDULERS = [
    ("StepLR", lambda o: S.StepLR(o, step_size=3, gamma=0.5), lambda o: T.TorchStepLR(o, step_size=3, gamma=0.5)),
    ("MultiStepLR", lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
     lambda o: T.TorchMultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", lambda o: S.ExponentialLR(o, gamma=0.9), lambda o: T.TorchExponentialLR(o, gamma=0.9)),
    ("CosineAnnealingLR", lambda o: S.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
     lambda o: T.TorchCosineAnnealingLR(o, T_max=7, eta_min=0.001)),
    ("LinearLR", lambda o: S.LinearLR(o, start_factor=0.1, total_iters=6),
     lambda o: T.TorchLinearLR(o, start_factor=0.1, total_iters=6)),
    ("ConstantLR", lambda o: S.ConstantLR(o, factor=0.5, total_iters=4),
     lambda o: T.TorchConstantLR(o, factor=0.5, total_iters=4)),
    ("PolynomialLR", lambda o: S.PolynomialLR(o, total_iters=10, power=2.0),
     lambda o: T.TorchPolynomialLR(o, total_iters=10, power=2.0)),
    ("LambdaLR", lambda o: S.LambdaLR(o, _warmup), lambda o: T.TorchLambdaLR(o, _warmup)),
    ("MultiplicativeLR", lambda o: S.MultiplicativeLR(o, lambda e: 0.95),
     lambda o: T.TorchMultiplicativeLR(o, lambda e: 0.95)),
    ("CosineAnnealingWarmRestarts", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01),
     lambda o: T.TorchCosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01)),
    ("OneCycleLR", lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=20),
     lambda o: T.TorchOneCycleLR(o, max_lr=0.5, total_steps=20)),
    ("OneCycleLR-linear-3", lambda o: S.OneCycleLR(o, max_lr=0.5, epochs=4, steps_per_epoch=5, pct_start=0.25,
                                                   anneal_strategy="linear", three_phase=True),
     lambda o: T.TorchOneCycleLR(o, max_lr=0.5, epochs=4, steps_per_epoch=5, pct_start=0.25,
                                 anneal_strategy="linear", three_phase=True)),
    # warm-up then cosine: the common idiom
    ("SequentialLR", lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.01, total_iters=4),
                                                  S.CosineAnnealingLR(o, T_max=12)], milestones=[4]),
     lambda o: T.TorchSequentialLR(o, [T.TorchLinearLR(o, start_factor=0.01, total_iters=4),
                                       T.TorchCosineAnnealingLR(o, T_max=12)], milestones=[4])),
    ("ChainedScheduler", lambda o: S.ChainedScheduler([S.ConstantLR(o, factor=0.1, total_iters=3),
                                                       S.ExponentialLR(o, gamma=0.9)]),
     lambda o: T.TorchChainedScheduler([T.TorchConstantLR(o, factor=0.1, total_iters=3),
                                        T.TorchExponentialLR(o, gamma=0.9)])),
]


@pytest.mark.parametrize("name,make_torch,make_nnx", SCHEDULERS, ids=[s[0] for s in SCHEDULERS])
def test_scheduler_lr_sequence_matches_torch(name, make_torch, make_nnx):
    lrs, last, mom, opt = _lr_sequence(make_torch, make_nnx, 19)
    np.testing.assert_allclose(lrs[1], lrs[0], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(last[1], last[0], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(mom[1], mom[0], rtol=1e-6)
    assert len(set(np.round(lrs[0], 12))) > 1  # the schedule moves
    # the value the optimizer's update reads is the scheduled one
    assert float(opt.opt_state.hyperparams["learning_rate"][...]) == pytest.approx(last[0][-1], rel=1e-6)


def test_one_cycle_cycles_adam_beta1():
    lrs, last, mom, opt = _lr_sequence(lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=12),
                                       lambda o: T.TorchOneCycleLR(o, max_lr=0.1, total_steps=12), 11,
                                       optimizer=("AdamW", T.torch_adamw, dict(lr=0.01)))
    np.testing.assert_allclose(lrs[1], lrs[0], rtol=1e-6)
    np.testing.assert_allclose(mom[1], mom[0], rtol=1e-6)
    assert len(set(np.round(mom[0], 9))) > 2
    assert float(opt.opt_state.hyperparams["b1"][...]) == pytest.approx(opt.param_groups[0]["betas"][0], rel=1e-6)


def test_reduce_lr_on_plateau_matches_torch():
    metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    lrs, last, _, _ = _lr_sequence(lambda o: S.ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=1),
                                   lambda o: T.TorchReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=1),
                                   len(metrics), metrics=metrics)
    np.testing.assert_allclose(lrs[1], lrs[0], rtol=1e-6)
    np.testing.assert_allclose(last[1], last[0], rtol=1e-6)
    assert min(lrs[0]) < max(lrs[0])


def test_scheduled_training_matches_torch_without_recompiling():
    """A schedule stepped per batch changes the learning rate the jitted step
    reads (an array in the optimizer state: no retrace), and the losses follow torch's."""
    tnet, jnet = pair()
    data = batches(10)
    t_opt = torch.optim.SGD(tnet.parameters(), lr=0.2, momentum=0.9)
    t_sched = S.CosineAnnealingLR(t_opt, T_max=10)
    j_opt = T.TorchOptimizer(jnet, T.torch_sgd(lr=0.2, momentum=0.9))
    j_sched = T.TorchCosineAnnealingLR(j_opt, T_max=10)
    traces = []

    @nnx.jit
    def step(model, optimizer, x, y):
        traces.append(1)
        loss, grads = nnx.value_and_grad(lambda m: ((m(x) - y) ** 2).mean())(model)
        optimizer.update(model, grads)
        return loss

    t_losses, t_lrs = run_torch(tnet, t_opt, data, t_sched)
    j_losses = []
    for x, y in data:
        j_losses.append(float(step(jnet, j_opt, jnp.asarray(x), jnp.asarray(y))))
        j_sched.step()
    np.testing.assert_allclose(j_losses, t_losses, rtol=1e-4)
    params_close(tnet, jnet, 1e-4)
    assert len(traces) == 1


FROZEN = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def build(model):
    model.fc1.requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.5)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return optimizer, scheduler
"""


def test_translated_optimizer_leaves_frozen_parameters_alone(tmp_path):
    """A translated script's optimizer over model.parameters() with a frozen
    layer: torch skips the frozen parameters (no gradient: not even weight
    decay), the translation's optimizer covers nnx.Param only; the weights
    are ported through the generated weights module and the scheduler steps
    per batch."""
    from harness import perturb, translate_files

    result, tmod, jmod, wmod = translate_files(FROZEN, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    squashed = "".join(result.code.split()).replace(",)", ")")
    assert "TorchOptimizer(model,torch_adamw(lr=0.05,weight_decay=0.5),wrt=nnx.Param)" in squashed
    torch.manual_seed(0)
    tnet = tmod.Net()
    perturb(tnet, seed=2)
    jnet = jmod.Net(rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(jnet, tnet.state_dict())
    frozen = tnet.fc1.weight.detach().clone()
    t_opt, t_sched = tmod.build(tnet)
    j_opt, j_sched = jmod.build(jnet)
    data = batches(6)
    t_losses, t_lrs = run_torch(tnet, t_opt, data, t_sched)
    j_losses, j_lrs = run_nnx(jnet, j_opt, data, j_sched)
    np.testing.assert_allclose(j_losses, t_losses, rtol=1e-3)
    np.testing.assert_allclose(j_lrs, t_lrs, rtol=1e-6)
    assert torch.equal(tnet.fc1.weight, frozen)
    params_close(tnet, jnet, 1e-3)


def test_param_group_keys_die_with_their_optimizer():
    # values a scheduler adds (initial_lr) are held per optimizer object: a new
    # optimizer that reuses a dead one's id() must not read them (CI saw a
    # SequentialLR start from another test's initial_lr)
    import gc
    _, jnet = pair()
    for i in range(20):
        opt = T.TorchOptimizer(jnet, T.torch_sgd(lr=0.1))
        group = opt.param_groups[0]
        assert "initial_lr" not in group
        group["initial_lr"] = 0.02 * (i + 1)
        assert group["initial_lr"] == pytest.approx(0.02 * (i + 1))
        del opt, group
        gc.collect()
