"""The training fixtures of issue 16 (fixtures/train_*: complete scripts),
translated and trained beside torch from the same perturbed weights on the
same batches: every step's loss matches (relative 1e-4 with SGD, 1e-3 with the
adaptive optimizers), and so do the trained parameters and BatchNorm's
running statistics (the running variance unbiased, as torch's: TorchBatchNorm)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fixture_cases import ROOT
from harness import translate_files
from training_scripts import model_pair, state_matches


def _translate(case, tmp_path):
    result, tmod, jmod, wmod = translate_files((ROOT / case / "model.py").read_text(), tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    return tmod, jmod, wmod


def _images(n, classes, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((6, 3, 8, 8)).astype(np.float32), rng.integers(0, classes, 6)) for _ in range(n)]


def test_seed_train_step_with_sgd_momentum(tmp_path):
    import jax.numpy as jnp

    tmod, jmod, wmod = _translate("train_seed", tmp_path)
    t_model, j_model = model_pair(tmod, jmod, wmod, "Net", 5, 3)
    t_opt, j_opt = tmod.make_optimizer(t_model), jmod.make_optimizer(j_model)
    rng = np.random.default_rng(0)
    t_losses, j_losses = [], []
    for _ in range(6):
        x, y = rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal((8, 3)).astype(np.float32)
        t_losses.append(tmod.train_step(t_model, t_opt, (torch.from_numpy(x), torch.from_numpy(y))))
        j_losses.append(jmod.train_step(j_model, j_opt, (jnp.asarray(x), jnp.asarray(y))))
    assert all(isinstance(v, float) for v in j_losses)
    np.testing.assert_allclose(j_losses, t_losses, rtol=1e-4)
    assert abs(t_losses[-1] - t_losses[0]) > 1e-2
    state_matches(wmod, j_model, t_model, 1e-4, skip=("num_batches",))


def test_cnn_trainer_with_cosine_schedule_and_evaluation(tmp_path):
    import jax.numpy as jnp

    tmod, jmod, wmod = _translate("train_cnn", tmp_path)
    t_model, j_model = model_pair(tmod, jmod, wmod, "SmallCNN")
    t_tr, j_tr = tmod.Trainer(t_model, total_steps=6), jmod.Trainer(j_model, total_steps=6)
    data = _images(6, 5)
    t_losses, j_losses, t_lrs, j_lrs = [], [], [], []
    for x, y in data:
        t_losses.append(t_tr.train_batch(torch.from_numpy(x), torch.from_numpy(y)))
        # the translated model takes channels-last images
        j_losses.append(j_tr.train_batch(jnp.asarray(x.transpose(0, 2, 3, 1)), jnp.asarray(y)))
        t_lrs.append(t_tr.optimizer.param_groups[0]["lr"])
        j_lrs.append(j_tr.optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(j_losses, t_losses, rtol=1e-3)
    np.testing.assert_allclose(j_lrs, t_lrs, rtol=1e-6)
    assert len(set(t_lrs)) == len(t_lrs)  # stepped per batch
    keys = state_matches(wmod, j_model, t_model, 1e-3, skip=("num_batches",))
    assert any("running_mean" in k for k in keys) and any("running_var" in k for k in keys)
    evals = _images(3, 5, seed=1)
    t_acc = t_tr.evaluate([(torch.from_numpy(x), torch.from_numpy(y)) for x, y in evals])
    j_acc = j_tr.evaluate([(jnp.asarray(x.transpose(0, 2, 3, 1)), jnp.asarray(y)) for x, y in evals])
    assert j_acc == t_acc and not t_model.training


def test_mlp_sgd_momentum_with_step_lr_per_epoch(tmp_path):
    from torch.utils.data import DataLoader, TensorDataset

    tmod, jmod, wmod = _translate("train_mlp", tmp_path)
    t_model, j_model = model_pair(tmod, jmod, wmod, "MLP")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((24, 6)).astype(np.float32), rng.standard_normal((24, 2)).astype(np.float32)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=8)
    t_hist = tmod.fit(t_model, loader)
    j_hist = jmod.fit(j_model, loader)  # the torch loader itself: its batches converted in the loop
    assert len(t_hist) == 9
    np.testing.assert_allclose(j_hist, t_hist, rtol=1e-4)
    state_matches(wmod, j_model, t_model, 1e-4)


def test_gpt_with_param_groups_warmup_and_accumulation(tmp_path):
    import jax.numpy as jnp

    tmod, jmod, wmod = _translate("train_gpt", tmp_path)
    t_model, j_model = model_pair(tmod, jmod, wmod, "TinyGPT")
    rng = np.random.default_rng(0)
    data = [(rng.integers(0, 32, (4, 8)), rng.integers(0, 32, (4, 8))) for _ in range(6)]
    t_losses = tmod.train(t_model, [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in data])
    j_losses = jmod.train(j_model, [(jnp.asarray(a), jnp.asarray(b)) for a, b in data])
    np.testing.assert_allclose(j_losses, t_losses, rtol=1e-3)
    state_matches(wmod, j_model, t_model, 1e-3)
    # the groups: decay for matrices, none for biases and norms
    t_opt, j_opt = tmod.configure_optimizer(t_model, 0.1, 0.2), jmod.configure_optimizer(j_model, 0.1, 0.2)
    assert [g["weight_decay"] for g in j_opt.param_groups] == [g["weight_decay"] for g in t_opt.param_groups]
    assert [len(g) for g in j_opt.held] == [len(g["params"]) for g in t_opt.param_groups]
