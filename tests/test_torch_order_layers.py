"""A layer of a class known only at run time handed a map in torch's order
(``translator/torch_order_layers.py``): timm's ``PatchEmbed`` puts its output in
(N, C, H, W) on the non-flattening path and applies ``self.norm``, built from a
``norm_layer`` its caller chooses (Visformer: ``nn.BatchNorm2d``). NNX's BatchNorm
reads the last axis as channels, so it gets the map channels-last and hands it
back in torch's order (before: a shape error, or a norm over W when W == C);
a LayerNorm on tokens is handed its tokens unchanged. Torch vs NNX, perturbed
weights and statistics, eval and nnx.jit."""

from __future__ import annotations

import re

from test_layout_forward import parity, rand

EMBEDS = """
    class Embed(nn.Module):
        def __init__(self, cin, c, norm_layer=None, flatten=True):
            super().__init__()
            self.flatten = flatten
            self.proj = nn.Conv2d(cin, c, 2, stride=2)
            self.norm = norm_layer(c) if norm_layer else nn.Identity()

        def forward(self, x):
            x = self.proj(x)
            if self.flatten:
                x = x.flatten(2).transpose(1, 2)
            x = self.norm(x)
            return x


    class MapNet(nn.Module):
        def __init__(self, c=6):
            super().__init__()
            self.embed = Embed(3, c, norm_layer=nn.BatchNorm2d, flatten=False)
            self.pos = nn.Parameter(torch.zeros(1, c, 4, 4))
            self.conv = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x):
            x = self.embed(x)
            x = x + self.pos
            return self.conv(x)


    class TokenNet(nn.Module):
        def __init__(self, c=6):
            super().__init__()
            self.embed = Embed(3, c, norm_layer=nn.LayerNorm, flatten=True)
            self.fc = nn.Linear(c, 5)

        def forward(self, x):
            return self.fc(self.embed(x))
"""


def test_channel_norm_of_unknown_class_in_torch_order(tmp_path):
    # H == W == C == 4 would hide a norm over the wrong axis: the map is 4x4 with 6 channels
    result = parity(EMBEDS, tmp_path, "MapNet", [rand(2, 3, 8, 8)])
    # the norm of unknown class gets the map in torch's order (the flag-split value:
    # each side as it is held, `x if self.flatten else <x in torch order>`)
    assert re.search(r"torch_order_layer\(\s*self\.norm,", result.code), result.code


def test_token_norm_of_unknown_class_unchanged(tmp_path):
    parity(EMBEDS, tmp_path, "TokenNet", [rand(2, 3, 8, 8)])
