"""Noise that varies along the batch alone takes its input's layout (issue 12).

Stochastic depth's noise is made with sizes read off its input, (N, 1, ..., 1)
or all ones, in torchvision's form (`torch.empty(size)`, `size` chosen in two
branches) and timm's (`x.new_empty(shape)`). It is the same array in every
layout that keeps the batch first, so the function stays layout-generic: a
model handing it an image (MapNet) and one handing it tensors torch itself
holds as (B, H, W, C) (HWCNet, Swin's blocks) both use it as they are, in one
run. Before, the noise was a torch-order tensor: it decided its input torch
order, the image model's call made the class take channels-last, and HWCNet's
(B, H, W, C) tensors were moved as if they were images (torchvision's Swin
translated with MaxViT: `cannot reshape array of shape (128,)`). A uniform draw
in forward (efficientnet_pytorch's drop_connect, `torch.rand([batch_size, 1, 1,
1])`) comes from the module's Rngs; it was refused (T2N005) for the layout it
would have decided.
Torch vs NNX, perturbed weights, outputs and gradients, eager and nnx.jit; the
noise itself checked in training mode on a channels-last batch."""

from __future__ import annotations

import importlib
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from harness import parity_in_package
from test_workflow import run

torch.set_num_threads(1)

OPS = textwrap.dedent('''\
    import torch
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


    def drop_path(x, drop_prob: float = 0.0, training: bool = False):
        if drop_prob == 0.0 or not training:
            return x
        keep_prob = 1 - drop_prob
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
        random_tensor.div_(keep_prob)
        return x * random_tensor


    def drop_connect(inputs, p, training):
        # efficientnet_pytorch's form: a uniform draw sized from a batch-size name
        if not training:
            return inputs
        batch_size = inputs.shape[0]
        keep_prob = 1 - p
        random_tensor = keep_prob
        random_tensor += torch.rand([batch_size, 1, 1, 1], dtype=inputs.dtype, device=inputs.device)
        binary_tensor = torch.floor(random_tensor)
        return inputs / keep_prob * binary_tensor


    class DropConnect(nn.Module):
        def __init__(self, p: float) -> None:
            super().__init__()
            self.p = p

        def forward(self, x):
            return drop_connect(x, self.p, self.training)


    class StochasticDepth(nn.Module):
        def __init__(self, p: float, mode: str) -> None:
            super().__init__()
            self.p = p
            self.mode = mode

        def forward(self, input: Tensor) -> Tensor:
            return stochastic_depth(input, self.p, self.mode, self.training)


    class DropPath(nn.Module):
        def __init__(self, p: float) -> None:
            super().__init__()
            self.p = p

        def forward(self, x):
            return drop_path(x, self.p, self.training)
''')

MAPS = textwrap.dedent('''\
    from torch import nn

    from .ops import DropConnect, DropPath, StochasticDepth


    class MapNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.sd = StochasticDepth(0.5, "row")
            self.dp = DropPath(0.5)
            self.dc = DropConnect(0.5)
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            x = self.conv(x)
            x = x + self.sd(x) + self.dc(x)
            return self.head(x + self.dp(x))
''')

HWC = textwrap.dedent('''\
    from torch import nn

    from .ops import DropConnect, DropPath, StochasticDepth


    class HWCNet(nn.Module):
        """Swin's blocks: (B, H, W, C) tensors after the patch conv."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 2, stride=2)
            self.norm = nn.LayerNorm(6)
            self.mlp = nn.Linear(6, 6)
            self.sd = StochasticDepth(0.5, "row")
            self.dp = DropPath(0.5)
            self.dc = DropConnect(0.5)
            self.norm2 = nn.LayerNorm(6)
            self.head = nn.Linear(6, 4)

        def forward(self, x):
            x = self.conv(x).permute(0, 2, 3, 1)
            x = x + self.sd(self.mlp(self.norm(x)))
            x = x + self.dp(self.mlp(self.norm2(x))) + self.dc(x)
            return self.head(x.mean(dim=(1, 2)))
''')


@pytest.fixture
def translated(tmp_path, monkeypatch):
    pkg = tmp_path / "noisepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "ops.py").write_text(OPS)
    (pkg / "maps.py").write_text(MAPS)
    (pkg / "hwc.py").write_text(HWC)
    r = run("translate", pkg / "maps.py", pkg / "hwc.py", "--suffix", "_nnx", "--no-cache")
    assert r.exit_code == 0, r.output
    assert "; 0 TODOs." in r.output, r.output
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for name in list(sys.modules):
        if name.startswith("noisepkg"):
            del sys.modules[name]


def test_batch_noise_leaves_the_layer_layout_generic(translated):
    ops = (translated / "ops_nnx.py").read_text()
    assert "Takes" not in ops and "torch_broadcast_cl" not in ops, ops
    hwc = (translated / "hwc_nnx.py").read_text()
    # HWCNet's (B, H, W, C) tensors go in as they are: no move, no transpose
    assert "transpose" not in hwc and "map_order" not in hwc and "torch_order" not in hwc, hwc


@pytest.mark.parametrize("jit", [False, True])
def test_models_handing_the_layer_images_and_hwc_tensors_match_torch(translated, jit):
    rng = np.random.default_rng(0)
    image = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    parity_in_package("noisepkg.maps", "MapNet", image, image.transpose(0, 2, 3, 1), jit)
    image = rng.standard_normal((2, 3, 8, 10)).astype(np.float32)
    parity_in_package("noisepkg.hwc", "HWCNet", image, image.transpose(0, 2, 3, 1), jit)


@pytest.mark.parametrize("cls, args", [("StochasticDepth", (0.5, "row")), ("DropPath", (0.5,)),
                                       ("DropConnect", (0.5,))])
def test_training_noise_is_per_sample_on_a_channels_last_batch(translated, cls, args):
    """In training the layer keeps or drops each sample whole, scaled by 1/keep:
    on a channels-last (N, H, W, C) batch too."""
    layer = getattr(importlib.import_module("noisepkg.ops_nnx"), cls)(*args, rngs=nnx.Rngs(3))
    layer.train()
    x = jnp.asarray(np.random.default_rng(1).uniform(1.0, 2.0, (64, 3, 4, 5)).astype(np.float32))
    ratio = np.asarray(layer(x)) / np.asarray(x)
    per_sample = ratio.reshape(64, -1)
    np.testing.assert_allclose(per_sample, per_sample[:, :1].repeat(per_sample.shape[1], 1), rtol=1e-6)
    assert set(np.round(per_sample[:, 0], 5)) == {0.0, 2.0}
    assert 10 < int((per_sample[:, 0] == 0).sum()) < 54  # about half dropped
