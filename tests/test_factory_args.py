"""A layer factory parameter whose default is one class while its callers pass
another (``translator/factory_args.py``): timm's GCViT stage defaults
``norm_layer_cl`` to ``LayerNorm2d`` (takes (N, C, H, W)), and the model hands it
a channels-last ``nn.LayerNorm`` looked up by name in a registry. Before, the
slot was typed from the default alone and the LayerNorm was handed a transposed
map (timm/gcvit: ``cannot reshape array of shape (64,) into shape (8,)``).
Torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

from test_layout_forward import parity, rand

HEADER = ("from functools import partial\nfrom typing import Type\n\nimport torch\nimport torch.nn as nn\n"
          "import torch.nn.functional as F\n\n\n")

STAGE = """
    class LayerNorm2d(nn.LayerNorm):
        def __init__(self, num_channels, eps=1e-6):
            super().__init__(num_channels, eps=eps)

        def forward(self, x):
            x = x.permute(0, 2, 3, 1)
            x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            return x.permute(0, 3, 1, 2)


    _NORMS = dict(layernorm=nn.LayerNorm, layernorm2d=LayerNorm2d)


    def get_norm_layer(name):
        return _NORMS[name]


    class Stage(nn.Module):
        def __init__(self, dim, norm_layer: Type[nn.Module] = nn.LayerNorm,
                     norm_layer_cl: Type[nn.Module] = LayerNorm2d):
            super().__init__()
            self.conv = nn.Conv2d(dim, dim, 3, padding=1)
            self.norm = norm_layer_cl(dim)

        def forward(self, x):
            x = self.conv(x)
            x = x.permute(0, 2, 3, 1)
            x = self.norm(x)
            return x.permute(0, 3, 1, 2)
"""

BY_NAME = STAGE + """

    class Net(nn.Module):
        def __init__(self, dim=6, norm_layer: str = "layernorm2d", norm_layer_cl: str = "layernorm", norm_eps=1e-5):
            super().__init__()
            norm_layer = partial(get_norm_layer(norm_layer), eps=norm_eps)
            norm_layer_cl = partial(get_norm_layer(norm_layer_cl), eps=norm_eps)
            self.stem = nn.Conv2d(3, dim, 3, padding=1)
            self.stage = Stage(dim, norm_layer=norm_layer, norm_layer_cl=norm_layer_cl)

        def forward(self, x):
            return self.stage(self.stem(x))
"""

DIRECT = STAGE + """

    class Net(nn.Module):
        def __init__(self, dim=6):
            super().__init__()
            self.stem = nn.Conv2d(3, dim, 3, padding=1)
            self.stage = Stage(dim, norm_layer_cl=nn.LayerNorm)
            self.other = Stage(dim)

        def forward(self, x):
            return self.other(self.stage(self.stem(x)))
"""


def test_factory_looked_up_by_name_is_of_unknown_class(tmp_path):
    # 6 channels on a 5x5 map: a norm over W or H cannot pass for one over C
    result = parity(BY_NAME, tmp_path, "Net", [rand(2, 3, 5, 5)], header=HEADER)
    assert "torch_order_layer(self.norm, x)" in result.code


def test_factory_default_and_passed_class_both_served(tmp_path):
    # the default, on the permuted map, normalises over torch's H: H == C, W differs
    result = parity(DIRECT, tmp_path, "Net", [rand(2, 3, 6, 5)], header=HEADER)
    assert "isinstance(self.norm, LayerNorm2d)" in result.code
