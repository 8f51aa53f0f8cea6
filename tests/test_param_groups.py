"""Optimizers over parameter groups and parameter lists (runtime/param_groups.py,
rules/optim.py): each group trains with its own options, parameters left out
of the optimizer stay as they are, frozen ones (no gradient) are skipped, as
in torch; every step's loss and the final parameters match."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import translate_files
from training_scripts import model_pair, state_matches

SRC = textwrap.dedent('''
    import torch
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(5, 16)
            self.fc2 = nn.Linear(16, 16)
            self.fc3 = nn.Linear(16, 3)

        def forward(self, x):
            return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


    def build(model):
        model.fc1.requires_grad_(False)
        groups = [
            {"params": [model.fc2.weight, model.fc1.weight], "weight_decay": 0.2},
            {"params": [model.fc2.bias], "lr": 0.05, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=0.02)


    def train(model, optimizer, batches):
        losses = []
        for x, y in batches:
            optimizer.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses
''')


def test_groups_with_own_options_and_frozen_and_left_out_parameters(tmp_path):
    import jax.numpy as jnp
    import torch

    result, tmod, jmod, wmod = translate_files(SRC, tmp_path)
    assert "TODO(torch2nnx)" not in result.code and "torch_optimizer(" in result.code, result.code
    t_model, j_model = model_pair(tmod, jmod, wmod, "Net")
    t_opt, j_opt = tmod.build(t_model), jmod.build(j_model)
    assert [g["lr"] for g in j_opt.param_groups] == [0.02, 0.05]
    assert [g["weight_decay"] for g in j_opt.param_groups] == [0.2, 0.0]
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal((8, 3)).astype(np.float32))
            for _ in range(8)]
    before = {k: v.clone() for k, v in t_model.state_dict().items()}
    t_losses = tmod.train(t_model, t_opt, [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in data])
    j_losses = jmod.train(j_model, j_opt, [(jnp.asarray(a), jnp.asarray(b)) for a, b in data])
    np.testing.assert_allclose(j_losses, t_losses, rtol=1e-3)
    state_matches(wmod, j_model, t_model, 1e-3)
    after = t_model.state_dict()
    # torch: fc1 frozen, fc3 left out, fc2 trained; the comparison above is not vacuous
    assert torch.equal(after["fc1.weight"], before["fc1.weight"]) and torch.equal(after["fc3.bias"], before["fc3.bias"])
    assert not torch.equal(after["fc2.weight"], before["fc2.weight"])
    assert not torch.equal(after["fc2.bias"], before["fc2.bias"])


def test_optimizer_state_dict_resumes_training_as_torch_does(tmp_path):
    """``optimizer.state_dict()`` / ``load_state_dict`` on the translated optimizers
    (TorchOptimizer and TorchGroupsOptimizer): a state saved after two steps,
    loaded back with the model's weights, replays the next steps with the same
    losses, as torch's (deep-copied) state does; and those losses are torch's."""
    import copy

    import jax.numpy as jnp
    import torch
    from flax import nnx

    result, tmod, jmod, wmod = translate_files(SRC + textwrap.dedent('''

        def build_plain(model):
            return torch.optim.Adam(model.parameters(), lr=0.01)


        def resume_plain(model, saved):
            optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
            optimizer.load_state_dict(saved)
            return optimizer
    '''), tmp_path)
    # the script's own resume: an optimizer it builds loads its state unmarked
    assert "TODO(torch2nnx)" not in result.code.split("def resume_plain")[1], result.code
    rng = np.random.default_rng(1)
    data = [(rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal((8, 3)).astype(np.float32))
            for _ in range(4)]
    t_data = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in data]
    j_data = [(jnp.asarray(a), jnp.asarray(b)) for a, b in data]
    for builder in ("build", "build_plain"):
        t_model, j_model = model_pair(tmod, jmod, wmod, "Net")
        t_opt, j_opt = getattr(tmod, builder)(t_model), getattr(jmod, builder)(j_model)
        tmod.train(t_model, t_opt, t_data[:2])
        jmod.train(j_model, j_opt, j_data[:2])
        t_saved = copy.deepcopy((t_model.state_dict(), t_opt.state_dict()))
        j_saved = (nnx.to_pure_dict(nnx.state(j_model)), j_opt.state_dict())
        t_next = tmod.train(t_model, t_opt, t_data[2:])
        j_next = jmod.train(j_model, j_opt, j_data[2:])
        t_model.load_state_dict(t_saved[0])
        t_opt.load_state_dict(t_saved[1])
        state = nnx.state(j_model)
        nnx.replace_by_pure_dict(state, j_saved[0])
        nnx.update(j_model, state)
        j_opt.load_state_dict(j_saved[1])
        np.testing.assert_allclose(tmod.train(t_model, t_opt, t_data[2:]), t_next, rtol=1e-6)
        np.testing.assert_allclose(jmod.train(j_model, j_opt, j_data[2:]), j_next, rtol=1e-6)
        np.testing.assert_allclose(j_next, t_next, rtol=1e-3)
        assert j_next[0] != jmod.train(j_model, j_opt, j_data[2:3])[0]  # the steps do change the state
        if builder == "build_plain":
            state = nnx.state(j_model)
            nnx.replace_by_pure_dict(state, j_saved[0])
            nnx.update(j_model, state)
            resumed = jmod.resume_plain(j_model, j_saved[1])
            np.testing.assert_allclose(jmod.train(j_model, resumed, j_data[2:]), t_next, rtol=1e-3)
