"""Norms and scales written for NCHW tensors, in classes the callers cannot see
(built by a factory handed in as a value, as timm's ``norm_layer``): under the
contract those callers hand channels-last maps as they are, so each class must
take its input channels-last, recognised by what it does to it (a permute moving
channels last, a per-channel ``(1, C, 1, 1)`` operand, a plain function doing
so for it). Torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import textwrap

import pytest

from harness import run_parity, translate_files
from test_layout_forward import HEADER, rand

NORMS = """
    class LayerNorm2d(nn.LayerNorm):
        def __init__(self, num_channels, eps=1e-6):
            super().__init__(num_channels, eps=eps)

        def forward(self, x):
            x = x.permute(0, 2, 3, 1)
            x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            x = x.permute(0, 3, 1, 2)
            return x


    def rms_norm2d(x, normalized_shape: List[int], weight: Optional[torch.Tensor] = None, eps: float = 1e-5):
        v = x.pow(2)
        v = torch.mean(v, dim=1, keepdim=True)
        x = x * torch.rsqrt(v + eps)
        if weight is not None:
            x = x * weight.reshape(1, -1, 1, 1)
        return x


    class RmsNorm2d(nn.Module):
        def __init__(self, channels, eps=1e-6):
            super().__init__()
            self.normalized_shape = (channels,)
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(channels))

        def forward(self, x):
            return rms_norm2d(x, self.normalized_shape, self.weight, self.eps)


    class LayerScale2d(nn.Module):
        def __init__(self, dim, init_values=1e-5, inplace=False):
            super().__init__()
            self.inplace = inplace
            self.gamma = nn.Parameter(init_values * torch.ones(dim))

        def forward(self, x):
            gamma = self.gamma.view(1, -1, 1, 1)
            return x.mul_(gamma) if self.inplace else x * gamma


    class Net(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.stem = nn.Conv2d(3, 6, 3, padding=1)
            self.layer = layer(6)
            self.conv = nn.Conv2d(6, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(self.layer(self.stem(x)))
"""


@pytest.mark.parametrize("layer", ["LayerNorm2d", "RmsNorm2d", "LayerScale2d"])
def test_nchw_norm_reached_as_a_value_takes_channels_last(tmp_path, layer):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(NORMS), tmp_path)

    def kwargs(mod, rngs):
        return {"layer": getattr(mod, layer)}

    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 5, 7)], kwargs=kwargs, jit=jit)
    s = result.layout_of(layer)
    assert s is not None and s.takes["x"].channels_last, f"{layer} must take x channels-last"


MIXED = """
    class Mixed(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.fc = nn.Linear(6, 6)
            self.seen = {layer}(6)
            self.stem = nn.Conv2d(3, 6, 3, padding=1)
            self.unseen = layer(6)
            self.conv = nn.Conv2d(6, 4, 3, padding=1)

        def forward(self, x, tokens):
            y = self.fc(tokens).transpose(1, 2).reshape(tokens.shape[0], 6, 5, 7)
            return self.conv(self.unseen(self.stem(x)) + self.seen(y))
"""


@pytest.mark.parametrize("layer", ["LayerNorm2d", "RmsNorm2d", "LayerScale2d"])
def test_nchw_norm_handed_torch_order_by_one_caller_still_takes_channels_last(tmp_path, layer):
    """One caller the translator sees hands the class a torch-order tensor (a token
    tensor reshaped to an image), another it cannot see hands it channels-last maps:
    the class's own code (its permute, its (1, C, 1, 1) operand) says it takes an
    image batch, so it takes it channels-last and the seen caller transposes (before,
    the seen caller's torch order won and the unseen caller's maps were read as NCHW)."""
    src = HEADER + textwrap.dedent(NORMS) + textwrap.dedent(MIXED).replace("{layer}", layer)
    result, tmod, jmod, wmod = translate_files(src, tmp_path)

    def kwargs(mod, rngs):
        return {"layer": getattr(mod, layer)}

    inputs = [rand(2, 3, 5, 7), rand(2, 35, 6, seed=1)]
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Mixed", inputs, kwargs=kwargs, jit=jit)
    s = result.layout_of(layer)
    assert s is not None and s.takes["x"].channels_last, f"{layer} must take x channels-last"
