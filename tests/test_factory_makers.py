"""Factory makers (factory_makers.py): pytorchcv's ``lambda_batchnorm2d(eps)``
returns ``lambda num_features: nn.BatchNorm2d(...)`` and is called as a default
argument value (``normalization=lambda_batchnorm2d()``), evaluated when the
``def`` runs, where no ``rngs`` exist. The maker takes none; the factory it
returns takes ``rngs`` of its own, handed by whoever calls it (a helper with a
factory parameter, ``create_normalization_layer``)."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

MAKERS = HEADER + textwrap.dedent("""
    from inspect import isfunction
    from typing import Callable


    def lambda_batchnorm2d(eps: float = 1e-5) -> Callable[[int], nn.Module]:
        return lambda num_features: nn.BatchNorm2d(num_features=num_features, eps=eps)


    def lambda_relu(inplace: bool = True) -> Callable[[], nn.Module]:
        return lambda: nn.ReLU(inplace=inplace)


    def lambda_leakyrelu(negative_slope: float = 1e-2) -> Callable[[], nn.Module]:
        return lambda: nn.LeakyReLU(negative_slope=negative_slope)


    def conv_of(kernel_size=3):
        def _create(in_channels, out_channels):
            return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        return _create


    def create_normalization_layer(normalization: Callable[..., nn.Module | None] | nn.Module,
                                   **kwargs) -> nn.Module | None:
        assert normalization is not None
        if isfunction(normalization):
            return normalization(**kwargs)
        return normalization


    def create_activation_layer(activation: Callable[..., nn.Module | None] | nn.Module | str) -> nn.Module | None:
        if isfunction(activation):
            return activation()
        elif isinstance(activation, str):
            return nn.ReLU(inplace=True)
        return activation


    class ConvBlock(nn.Module):
        def __init__(self, in_channels, out_channels,
                     conv: Callable[..., nn.Module] = conv_of(),
                     normalization: Callable[..., nn.Module | None] | nn.Module | None = lambda_batchnorm2d(),
                     activation: Callable[..., nn.Module | None] | nn.Module | str | None = lambda_relu()):
            super().__init__()
            self.normalize = normalization is not None
            self.activate = activation is not None
            self.conv = conv(in_channels, out_channels)
            if self.normalize:
                self.bn = create_normalization_layer(normalization=normalization, num_features=out_channels)
            if self.activate:
                self.activ = create_activation_layer(activation)

        def forward(self, x):
            x = self.conv(x)
            if self.normalize:
                x = self.bn(x)
            if self.activate:
                x = self.activ(x)
            return x


    class Net(nn.Module):
        def __init__(self, channels=3):
            super().__init__()
            self.a = ConvBlock(channels, 8)
            self.b = ConvBlock(8, 8, conv=conv_of(1), normalization=lambda_batchnorm2d(eps=1e-3),
                               activation=lambda_leakyrelu(0.2))
            self.c = ConvBlock(8, 4, activation=None)

        def forward(self, x):
            return self.c(self.b(self.a(x)))
""")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_factory_makers_as_default_arguments(tmp_path):
    result, tmod, jmod, wmod = translate_files(MAKERS, tmp_path)
    assert result.todo_count == 0, result.code
    code = result.code
    # the makers take no rngs; the factories they return take their own
    assert "def lambda_batchnorm2d(eps: float = 1e-5) -> Callable" in code, code
    assert "return lambda num_features, *, rngs: TorchBatchNorm(" in code, code
    assert "return lambda *, rngs=None: jax.nn.relu" in code, code
    assert "def conv_of(kernel_size=3):" in code and "def _create(in_channels, out_channels, *, rngs):" in code, code
    assert "= lambda_batchnorm2d()," in code and "= conv_of()," in code, code
    assert "normalization(**kwargs, rngs=rngs)" in code and "activation(rngs=rngs)" in code, code
    x = rand(2, 3, 6, 6)
    run_parity(result, tmod, jmod, wmod, "Net", [x])
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=True)


DEFAULTS = HEADER + textwrap.dedent("""
    class Block(nn.Module):
        def __init__(self, c=4, norm=lambda c: nn.BatchNorm2d(c, eps=1e-3), proj=nn.Conv2d(4, 4, 1)):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.norm = norm(c)
            self.proj = proj

        def forward(self, x):
            return self.proj(self.norm(self.conv(x)))
""")


def test_defaults_never_read_rngs(tmp_path):
    """A default value runs when the def does: a lambda there takes its own
    ``rngs``; a layer built there draws from ``nnx.Rngs(0)``, marked T2N005."""
    result, tmod, jmod, wmod = translate_files(DEFAULTS, tmp_path)  # imports: no NameError
    code = result.code
    assert "norm=lambda c, *, rngs: TorchBatchNorm(" in code, code
    assert "rngs=nnx.Rngs(0)" in code and "T2N005 proj's default value" in code, code
    assert result.todo_count == 1, code
    run_parity(result, tmod, jmod, wmod, "Block", [rand(2, 4, 5, 5)], jit=True)
