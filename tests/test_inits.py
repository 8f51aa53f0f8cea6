"""Initialisation code as real models write it: torch's in-place tensor methods
(``tensor.uniform_()``, ``.erfinv_()``, ``.mul_()``, ``.clamp_()``, ...) in
helper functions handed parameters (timm's ``trunc_normal_``), torch dtypes
as values, and modules assigned on some paths only."""

from __future__ import annotations

import importlib

import numpy as np

from harness import load_module, make_input, run_parity, translate_files
from torch2nnx.api import translate_many

WEIGHT_INIT = '''import math
import torch


def _trunc_normal_(tensor, mean, std, a, b):
    def norm_cdf(x):
        return (1. + math.erf(x / math.sqrt(2.))) / 2.

    l = norm_cdf((a - mean) / std)
    u = norm_cdf((b - mean) / std)
    tensor.uniform_(2 * l - 1, 2 * u - 1)
    tensor.erfinv_()
    tensor.mul_(std * math.sqrt(2.))
    tensor.add_(mean)
    tensor.clamp_(min=a, max=b)
    return tensor


def trunc_normal_(tensor, mean=0., std=1., a=-2., b=2.):
    with torch.no_grad():
        return _trunc_normal_(tensor, mean, std, a, b)
'''

MODEL = '''import torch
import torch.nn as nn

from ipkg.layers import trunc_normal_


class Net(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, 50, dim))
        self.fc = nn.Linear(dim, 300)
        self.fc2 = nn.Linear(300, 300)
        trunc_normal_(self.pos_embed, std=.02)
        self.apply(self._init_weights)
        with torch.no_grad():
            self.fc2.bias.zero_()
            self.fc2.bias[:5].fill_(0.5)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.5, a=-.6, b=.6)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0.1)

    def forward(self, x):
        return self.fc2(self.fc(x + self.pos_embed))
'''


def _close(a, b, tol):
    assert abs(a - b) < tol, (a, b)


def test_inplace_init_functions_write_into_parameters(tmp_path, monkeypatch):
    """timm's weight_init: a function of another file filling the parameter it is
    handed in place. It gains ``rngs`` (passed by __init__ and by the method
    ``apply`` calls), and each in-place op sets the Variable's value, so the
    model's parameters follow torch's distributions; then parity on ported weights."""
    pkg = tmp_path / "ipkg"
    (pkg / "layers").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "layers" / "__init__.py").write_text("from .weight_init import trunc_normal_\n")
    (pkg / "layers" / "weight_init.py").write_text(WEIGHT_INIT)
    (pkg / "model.py").write_text(MODEL)
    names = {"ipkg.layers.weight_init": "weight_init_nnx", "ipkg.model": "model_nnx"}
    files = {"ipkg.layers.weight_init": (str(pkg / "layers" / "weight_init.py"), WEIGHT_INIT),
             "ipkg.model": (str(pkg / "model.py"), MODEL)}
    results = translate_many(files, names)
    assert not any(d.needs_todo for r in results.values() for d in r.diagnostics), \
        "\n".join(d.format() for r in results.values() for d in r.diagnostics)
    for mod, r in results.items():
        (tmp_path / f"{names[mod]}.py").write_text(r.code)
        (tmp_path / f"{names[mod]}_weights.py").write_text(r.weights_code)
    monkeypatch.syspath_prepend(str(tmp_path))
    tmod = importlib.import_module("ipkg.model")
    jmod = load_module(tmp_path / "model_nnx.py")
    wmod = load_module(tmp_path / "model_nnx_weights.py")
    from flax import nnx

    j = jmod.Net(rngs=nnx.Rngs(0))
    t = tmod.Net()
    pe = np.asarray(j.pos_embed.get_value())
    _close(pe.std(), t.pos_embed.detach().numpy().std(), 0.002)
    assert np.abs(pe).max() > 0.05  # truncated at +-2, far beyond the std
    k = np.asarray(j.fc.kernel.get_value())
    tw = t.fc.weight.detach().numpy()
    _close(k.std(), tw.std(), 0.01)
    assert np.abs(k).max() <= 0.6 + 1e-6 and np.abs(k).max() > 0.59
    b2 = np.asarray(j.fc2.bias.get_value())
    np.testing.assert_allclose(b2, t.fc2.bias.detach().numpy())  # zeros, then 0.5 on a slice
    np.testing.assert_allclose(np.asarray(j.fc.bias.get_value()), 0.1)
    run_parity(results["ipkg.model"], tmod, jmod, wmod, "Net",
               [make_input("float32[2,50,64]", np.random.default_rng(0))])


def test_inplace_ops_on_locals_rebind_them(tmp_path):
    """On a local array the in-place op rebinds the name (arrays are immutable),
    chains included; the value of the expression is the new tensor."""
    src = '''import torch
import torch.nn as nn


class M(nn.Module):
    def forward(self, x):
        y = x.clone()
        y.mul_(2.0).add_(1.0)
        y[:, 0].zero_()
        y.clamp_(max=2.0)
        z = x.abs().sqrt_()
        return y + z
'''
    result, tmod, jmod, wmod = translate_files(src, tmp_path)
    assert "TODO" not in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "M", [make_input("float32[3,4]", np.random.default_rng(0))])


def test_torch_dtypes_as_values(tmp_path):
    """timm's pos_embed_sincos: dtypes as defaults, arguments, computed from
    torch.get_default_dtype() / torch.finfo, read (dtype.is_floating_point),
    compared by identity (torch's dtypes are singletons) and handed to .to()."""
    src = '''from typing import Optional
import torch
import torch.nn as nn


def _freq_dtype(dtype: Optional[torch.dtype]) -> torch.dtype:
    if dtype is None:
        dtype = torch.get_default_dtype()
    if dtype.is_floating_point and torch.finfo(dtype).bits < 32:
        return torch.float32
    return dtype


def grid(n: int, dtype: torch.dtype = torch.float32, device=None):
    return torch.arange(n, dtype=dtype, device=device)


class M(nn.Module):
    def __init__(self, dim=4, dtype=None):
        super().__init__()
        self.register_buffer("bands", torch.ones(dim, dtype=_freq_dtype(dtype)), persistent=False)
        self.register_buffer("lowp", torch.ones(dim, dtype=_freq_dtype(torch.float16)), persistent=False)
        self.register_buffer("g", grid(dim), persistent=False)
        self.dt = torch.float16 if dtype == torch.bfloat16 else torch.float32

    def forward(self, x):
        if x.dtype is torch.float32 and self.dt is torch.float32 and self.lowp.dtype is torch.float32:
            x = x * 2
        return x + self.bands + self.g.to(x.dtype) + torch.finfo(x.dtype).eps * 1e4
'''
    result, tmod, jmod, wmod = translate_files(src, tmp_path)
    # only the torch.dtype annotations stay marked
    assert not [d for d in result.diagnostics if d.code != "T2N003"], result.code
    run_parity(result, tmod, jmod, wmod, "M", [make_input("float32[3,4]", np.random.default_rng(0))])


def test_module_attributes_first_given_a_plain_value(tmp_path):
    """timm's hgnet: ``self.downsample = downsample`` (a flag), then a block on one
    path. The flag stays static where it stays (a data flag would be traced under
    nnx.jit); the block assigned later is data. Parity eager and under nnx.jit."""
    source = '''import torch
import torch.nn as nn


class ConvBN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return self.bn(self.conv(x))


class Stage(nn.Module):
    def __init__(self, c, downsample: bool = True, use_lab=False):
        super().__init__()
        self.downsample = downsample
        if downsample:
            self.downsample = ConvBN(c)
        else:
            self.downsample = nn.Identity()
        self.lab = use_lab
        if use_lab:
            self.lab = ConvBN(c)
        self.block = ConvBN(c)

    def forward(self, x):
        x = self.downsample(x)
        if self.lab:
            x = self.lab(x)
        return self.block(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.s1 = Stage(4, True, True)
        self.s2 = Stage(4, False, False)

    def forward(self, x):
        return self.s2(self.s1(x))
'''
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    assert "TODO" not in result.code, result.code
    x = [make_input("float32[2,4,6,6]", np.random.default_rng(0))]
    run_parity(result, tmod, jmod, wmod, "Net", x)
    run_parity(result, tmod, jmod, wmod, "Net", x, jit=True)


def test_named_layers_of_a_sequential_subclass_read_as_attributes(tmp_path):
    """timm's ConvNorm (repvit, iformer, shvit, starnet): an nn.Sequential subclass
    filled by add_module('c', ...) / ('bn', ...) reads self.bn.weight (the
    BatchNorm's scale) and self.c's hyperparameters; others read conv_norm.bn."""
    source = '''import torch
import torch.nn as nn


class ConvNorm(nn.Sequential):
    def __init__(self, in_dim, out_dim, ks=1, stride=1, pad=0, bn_weight_init=1.0):
        super().__init__()
        self.add_module('c', nn.Conv2d(in_dim, out_dim, ks, stride, pad, bias=False))
        self.add_module('bn', nn.BatchNorm2d(out_dim))
        nn.init.constant_(self.bn.weight, bn_weight_init)
        nn.init.constant_(self.bn.bias, 0)

    def out_channels(self):
        return self.c.out_channels


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = ConvNorm(3, 8, 3, 1, 1, bn_weight_init=0.5)
        self.b = ConvNorm(8, 4)
        self.scale = self.b.out_channels()

    def forward(self, x):
        return self.b(self.a(x)) * self.scale + self.a.bn(self.a.c(x)).mean()
'''
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    assert "TODO" not in result.code, result.code
    from flax import nnx

    j = jmod.Net(rngs=nnx.Rngs(0))
    np.testing.assert_allclose(np.asarray(j.a.bn.scale.get_value()), 0.5)
    x = [make_input("float32[2,3,6,6]", np.random.default_rng(0))]
    run_parity(result, tmod, jmod, wmod, "Net", x)
    run_parity(result, tmod, jmod, wmod, "Net", x, jit=True)


def test_init_method_without_rngs_hands_apply_a_partial(tmp_path):
    """timm's init_weights(needs_reset) (public, called from __init__ and after
    to_empty()) applies ``partial(self._init_weights, ...)``: the re-initialising
    method takes rngs, and so does the public method handing it on (the
    contract's ``*, rngs``; from ``__init__`` it gets the constructor's)."""
    source = '''from functools import partial
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(200, 300)
        self.init_weights(scale=0.5)

    def init_weights(self, scale=1.0):
        self.apply(partial(self._init_weights, scale=scale))

    def _init_weights(self, m, scale=1.0):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=scale)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.fc(x)
'''
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    assert "TODO" not in result.code, result.code
    from flax import nnx

    j = jmod.Net(rngs=nnx.Rngs(0))
    _close(float(np.asarray(j.fc.kernel.get_value()).std()), 0.5, 0.01)
    j.init_weights(scale=2.0, rngs=nnx.Rngs(1))  # again, later, as timm's users do
    _close(float(np.asarray(j.fc.kernel.get_value()).std()), 2.0, 0.04)
    run_parity(result, tmod, jmod, wmod, "Net", [make_input("float32[2,200]", np.random.default_rng(0))])
