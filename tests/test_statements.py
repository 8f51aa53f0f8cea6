"""Statement forms that are not one API call: in-place methods used as
statements and item assignment become rebinding (JAX arrays are immutable)."""

from __future__ import annotations

import numpy as np

from harness import make_input, run_parity, translate_files

SOURCE = '''import torch
import torch.nn as nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, y):
        x = self.fc(x)
        x.add_(y)
        x.mul_(2.0)
        x[:, 0] = 0.0
        x[1] = x[1] * 3
        y.clamp_(min=0.0)
        return x + y
'''


def test_inplace_and_item_assignment(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "x = x + y" in result.code.replace("(", "").replace(")", "")
    assert "x = x.at[:, 0].set(0.0)" in result.code
    assert "y = jnp.clip(y, min=0.0)" in result.code
    rng = np.random.default_rng(0)
    inputs = [make_input("float32[3,4]", rng), make_input("float32[3,4]", rng)]
    run_parity(result, tmod, jmod, wmod, "M", inputs)


CL_SOURCE = '''import torch.nn as nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        x = self.conv(x)
        x[:, 0] = 0.0
        y = x[:, 1] + x[:, :, 2:4, 0].mean()
        return x, y, x[0, :, 1]
'''


def test_indexing_channels_last(tmp_path):
    """Integer and slice indices land on the channels-last axes; only the
    returned (C, W) slice goes back to torch's order (it is not spatial)."""
    result, tmod, jmod, wmod = translate_files(CL_SOURCE, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "x = x.at[:, :, :, 0].set(0.0)" in result.code
    assert sum(result.transposes.values()) == 1, result.code
    rng = np.random.default_rng(0)
    run_parity(result, tmod, jmod, wmod, "M", [make_input("float32[2,3,5,6]", rng)])


TRAINING_SOURCE = '''import torch
import torch.nn as nn


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.aux = nn.Linear(4, 3)

    def forward(self, x):
        if self.training:
            return self.fc(x) + self.aux(x)
        return self.fc(x)
'''


def test_self_training_follows_train_and_eval(tmp_path):
    result, tmod, jmod, wmod = translate_files(TRAINING_SOURCE, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "not self.deterministic" in result.code
    rng = np.random.default_rng(0)
    inputs = [make_input("float32[2,4]", rng)]
    run_parity(result, tmod, jmod, wmod, "Head", inputs, train=False)
    run_parity(result, tmod, jmod, wmod, "Head", inputs, train=True)


PRETRAINED_SOURCE = '''import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


def _load(model: nn.Module, state_dict) -> None:
    # checkpoints saved the layer under an older name (as DenseNet's loader fixes)
    state_dict = {k.replace("head.", "fc."): v for k, v in state_dict.items()}
    model.load_state_dict(state_dict)


def build(state_dict=None):
    model = Net()
    if state_dict is not None:
        _load(model, state_dict)
    return model
'''


def test_load_state_dict_calls_the_weights_module(tmp_path, monkeypatch):
    """Pretrained-weight plumbing: model.load_state_dict(sd) ports the torch
    state_dict through the weights module written next to the translation,
    also in a helper taking ``model: nn.Module``."""
    import importlib

    import torch
    from flax import nnx

    result, tmod, jmod, wmod = translate_files(PRETRAINED_SOURCE, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "weights_module().load_torch_state_dict(model, state_dict)" in result.code
    monkeypatch.syspath_prepend(str(tmp_path))
    import sys

    for name in ("model_nnx", "model_nnx_weights"):  # another test's modules of the same name
        monkeypatch.delitem(sys.modules, name, raising=False)
    translated = importlib.import_module("model_nnx")  # imports model_nnx_weights by its name
    torch_model = tmod.build()
    sd = {k.replace("fc.", "head."): v for k, v in torch_model.state_dict().items()}
    nnx_model = translated.build(state_dict=sd, rngs=nnx.Rngs(0))
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.asarray(nnx_model(x)), expected, rtol=1e-4, atol=1e-4)


STOCHASTIC = '''import torch
from torch import nn, Tensor


def stochastic_depth(input: Tensor, p: float, mode: str, training: bool = True) -> Tensor:
    if not training or p == 0.0:
        return input
    survival_rate = 1.0 - p
    if mode == "row":
        size = [input.shape[0]] + [1] * (input.ndim - 1)
    else:
        size = [1] * input.ndim
    noise = torch.empty(size, dtype=input.dtype, device=input.device)
    noise = noise.bernoulli_(survival_rate)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return input * noise


torch.fx.wrap("stochastic_depth")


class Block(nn.Module):
    def __init__(self, p, **params):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.drop = nn.Dropout(0.25, **params)
        self.p = p

    def forward(self, x):
        return x + stochastic_depth(self.drop(self.conv(x)), self.p, "row", self.training)
'''


def test_random_function_takes_rngs_and_inert_splat(tmp_path):
    """A plain function that draws random numbers gains ``*, rngs`` and the
    module passes its own; ``**params`` that can only hold ``inplace`` is
    dropped; ``torch.fx.wrap`` at the top level goes."""
    result, tmod, jmod, wmod = translate_files(STOCHASTIC, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "input: jax.Array, p: float, mode: str, training: bool = True, *, rngs: nnx.Rngs" in result.code
    assert "rngs=self.rngs" in result.code and "fx" not in result.code
    assert "nnx.Dropout(0.25, rngs=rngs)" in result.code
    rng = np.random.default_rng(0)
    x = make_input("float32[2,3,8,8]", rng)
    run_parity(result, tmod, jmod, wmod, "Block", [x], kwargs={"p": 0.5, "inplace": True})
    # training: whole rows are kept (scaled by 2) or zeroed, as torch's
    from flax import nnx
    import jax.numpy as jnp

    model = jmod.Block(p=0.5, rngs=nnx.Rngs(0))
    model.train()
    model.drop.deterministic = True
    xs = jnp.ones((64, 8, 8, 3))
    branch = model.conv(xs)
    rows = (model(xs) - xs) / branch
    per_row = np.asarray(rows).reshape(64, -1)
    assert np.allclose(per_row, per_row[:, :1], atol=1e-4)
    assert set(np.round(per_row[:, 0], 3)) <= {0.0, 2.0} and 10 < (per_row[:, 0] > 1).sum() < 54


HYPER = '''import math
import torch
from torch import nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, padding=1, groups=2)
        self.emb = nn.Embedding(5, 3)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                self.scale = math.sqrt(2.0 / fan_out) * m.in_channels
        self.width = self.emb.embedding_dim

    def forward(self, x):
        return self.conv(x) * self.scale + self.width
'''


def test_layer_hyperparameters_read_by_init_code(tmp_path):
    """Init code reading a layer's hyperparameters (RegNet's fan-out) reads
    the NNX names (out_features, feature_group_count, features)."""
    result, tmod, jmod, wmod = translate_files(HYPER, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "m.out_features // m.feature_group_count" in " ".join(result.code.split())
    assert "self.emb.features" in result.code
    rng = np.random.default_rng(0)
    run_parity(result, tmod, jmod, wmod, "M", [make_input("float32[2,4,5,5]", rng)])
