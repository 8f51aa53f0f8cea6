"""torch data pipelines kept as torch code (translator/kept_data.py): a
Dataset subclass, DataLoader and TensorDataset stay torch (their imports and
arguments too, with no TODO), and their batches are converted once where they
enter translated code -- to channels-last where the model takes it so -- and
the training losses match torch's step by step."""

from __future__ import annotations

import numpy as np
import torch

from harness import translate_files
from training_scripts import model_pair

CNN = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class Squares(Dataset):
    def __init__(self, n):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(n, 3, 8, 8, generator=g)
        self.y = torch.randint(0, 2, (n,), generator=g)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"image": self.x[i], "label": self.y[i]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.conv(x).relu().mean((2, 3))
        return self.fc(x)


def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.5)


def train(model, loader, opt):
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for i, batch in enumerate(loader):
        opt.zero_grad()
        loss = loss_fn(model(batch["image"]), batch["label"])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def first_logits(model, loader):
    batch = next(iter(loader))
    return model(batch["image"])


def loader_of(n):
    return DataLoader(Squares(n), batch_size=4)
'''


def test_dataset_subclass_and_loader_are_kept_and_batches_converted(tmp_path):
    result, tmod, jmod, wmod = translate_files(CNN, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "from torch.utils.data import DataLoader, Dataset" in result.code
    assert "self.x = torch.randn(n, 3, 8, 8, generator=g)" in result.code  # the Dataset as written
    assert not [d for d in result.diagnostics if d.code in ("T2N001", "T2N003")]
    t_model, j_model = model_pair(tmod, jmod, wmod, "Net")
    t_losses = tmod.train(t_model, tmod.loader_of(12), tmod.make_optimizer(t_model))
    # the translation's own (kept) loader: torch batches in, converted in the loop
    j_losses = jmod.train(j_model, jmod.loader_of(12), jmod.make_optimizer(j_model))
    assert len(t_losses) == 3
    np.testing.assert_allclose(j_losses, t_losses, rtol=1e-4)
    with torch.no_grad():
        want = tmod.first_logits(t_model, tmod.loader_of(4)).numpy()
    np.testing.assert_allclose(np.asarray(jmod.first_logits(j_model, jmod.loader_of(4))), want,
                               rtol=1e-4, atol=1e-4)


def test_coverage_lists_data_pipelines_as_kept(tmp_path):
    from torch2nnx.coverage import KEPT, scan

    (tmp_path / "train.py").write_text(CNN)
    cov = scan([tmp_path / "train.py"], display=lambda p: p.name)
    assert cov.apis["torch.utils.data.DataLoader"].support == KEPT
    assert cov.apis["torch.utils.data.Dataset"].support == KEPT
    assert cov.apis["torch.utils.data.DataLoader"].todos == 0


SCRIPT_LEVEL = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


torch.manual_seed(0)
loader = DataLoader(TensorDataset(torch.randn(8, 4)), batch_size=4)
model = Net()


def predict(model):
    return [model(x) for (x,) in loader]


def sums(model):
    total = 0.0
    for (x,) in loader:
        total = total + model(x).sum()
    return total
'''


def test_module_level_loader_read_in_loops_and_comprehensions(tmp_path):
    import jax

    result, tmod, jmod, wmod = translate_files(SCRIPT_LEVEL, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert result.code.count("from_torch_batches(loader)") == 2
    t_model, j_model = model_pair(tmod, jmod, wmod, "Net")
    with torch.no_grad():
        want = [o.numpy() for o in tmod.predict(t_model)]
        want_sum = float(tmod.sums(t_model))
    got = jmod.predict(j_model)
    assert all(isinstance(o, jax.Array) for o in got)
    np.testing.assert_allclose(np.stack(got), np.stack(want), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(jmod.sums(j_model)), want_sum, rtol=1e-4, atol=1e-4)
