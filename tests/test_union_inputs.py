"""A module slot holding one of two translated classes, chosen in ``__init__``,
handed the model's own (undecided) input (``translator/union_dispatch.py``:
``undecided_input``). timm's ConViT: ``self.patch_embed = HybridEmbed(backbone)
if backbone else PatchEmbed(...)``, ``HybridEmbed`` handing its input on to a
backbone it cannot see. Before, folding the union let the first candidate
decide the parameter (torch order) and handed the next one the first one's
tokens: the model took its image in torch order (the corpus fed it channels-last:
"Input width (3) doesn't match model"). The model takes its image channels-last
whichever candidate is built. Torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

from harness import perm_of
from test_layout_forward import parity, rand

EMBEDS = """
    class PatchEmbed(nn.Module):
        def __init__(self, in_chans=3, dim=16, patch=4):
            super().__init__()
            self.proj = nn.Conv2d(in_chans, dim, patch, patch)

        def forward(self, x):
            x = self.proj(x)
            return x.flatten(2).transpose(1, 2)


    class HybridEmbed(nn.Module):
        def __init__(self, backbone, feat=8, dim=16):
            super().__init__()
            self.backbone = backbone
            self.proj = nn.Conv2d(feat, dim, 1)

        def forward(self, x):
            x = self.backbone(x)
            x = self.proj(x)
            return x.flatten(2).transpose(1, 2)


    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 4, 4)

        def forward(self, x):
            return self.conv(x).relu()


    class Net(nn.Module):
        def __init__(self, hybrid_backbone=None, dim=16):
            super().__init__()
            if hybrid_backbone is not None:
                self.patch_embed = HybridEmbed(hybrid_backbone, dim=dim)
            else:
                self.patch_embed = PatchEmbed(dim=dim)
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, 10)

        def forward_features(self, x):
            x = self.patch_embed(x)
            return self.norm(x)

        def forward(self, x):
            x = self.forward_features(x)
            return self.head(x.mean(1))
"""


def _takes_image_channels_last(result, cls="Net"):
    s = result.layout_of(cls)
    assert perm_of(s.takes["x"]) == (0, 2, 3, 1), s.takes


def test_a_slot_of_two_embeds_takes_the_image_channels_last(tmp_path):
    result = parity(EMBEDS, tmp_path, "Net", [rand(2, 3, 16, 16)])
    _takes_image_channels_last(result)
    _takes_image_channels_last(result, "PatchEmbed")


def test_the_other_candidate_built(tmp_path):
    def kwargs(mod, rngs):
        return {"hybrid_backbone": mod.Backbone() if rngs is None else mod.Backbone(rngs=rngs)}

    result = parity(EMBEDS, tmp_path, "Net", [rand(2, 3, 16, 16)], kwargs=kwargs)
    _takes_image_channels_last(result)
