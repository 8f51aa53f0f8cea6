"""Dicts of feature maps from modules handed in (sequence_values.keyed_maps):
torchvision's segmentation models hold their backbone and classifier as
``nn.Module`` parameters; the backbone (an IntermediateLayerGetter) returns an
OrderedDict of maps, ``features["out"]`` goes to the classifier and
``F.interpolate(x, size=input_shape)`` with ``input_shape = x.shape[-2:]``.
Before, the entry was a value of unknown layout: the model read its input's
shape in torch order and transposed the classifier's channels-last output
again (torch (1, 5, 32, 32), NNX (1, 32, 3, 4))."""

from __future__ import annotations

import textwrap

from harness import maps_parity_beside, translate_beside

# an IntermediateLayerGetter: the named children's outputs it is told to return, by name
GETTER = textwrap.dedent("""
    class Getter(nn.ModuleDict):
        def __init__(self, model: nn.Module, return_layers):
            layers = OrderedDict()
            for name, module in model.named_children():
                layers[name] = module
            super().__init__(layers)
            self.return_layers = return_layers

        def forward(self, x):
            out = OrderedDict()
            for name, module in self.items():
                x = module(x)
                if name in self.return_layers:
                    out[self.return_layers[name]] = x
            return out
""")

SEG = textwrap.dedent("""
    from collections import OrderedDict
    from typing import Dict

    import torch.nn as nn
    from torch import Tensor
    import torch.nn.functional as F


""") + GETTER + textwrap.dedent("""
    class Seg(nn.Module):
        def __init__(self, backbone: nn.Module, classifier: nn.Module, aux=None):
            super().__init__()
            self.backbone = backbone
            self.classifier = classifier
            self.aux = aux

        def forward(self, x):
            input_shape = x.shape[-2:]
            features = self.backbone(x)
            result = OrderedDict()
            x = features["out"]
            x = self.classifier(x)
            x = F.interpolate(x, size=input_shape, mode="bilinear", align_corners=False)
            result["out"] = x
            if self.aux is not None:
                x = self.aux(features["aux"])
                result["aux"] = F.interpolate(x, size=input_shape, mode="bilinear", align_corners=False)
            return result


    class Body(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 3, 2, 1)
            self.bn = nn.BatchNorm2d(4)
            self.layer1 = nn.Sequential(nn.Conv2d(4, 6, 3, 1, 1), nn.ReLU())
            self.layer2 = nn.Sequential(nn.Conv2d(6, 8, 3, 2, 1), nn.ReLU())

        def forward(self, x):
            return self.layer2(self.layer1(self.bn(self.conv1(x))))


    def build():
        backbone = Getter(Body(), {"layer1": "aux", "layer2": "out"})
        return Seg(backbone, nn.Sequential(nn.Conv2d(8, 5, 1)), nn.Conv2d(6, 5, 3, padding=1))


    class Head(nn.Module):
        def __init__(self, low, high, n):
            super().__init__()
            self.cbr = nn.Sequential(nn.Conv2d(high, 4, 1), nn.ReLU())
            self.low_classifier = nn.Conv2d(low, n, 1)
            self.high_classifier = nn.Conv2d(4, n, 1)

        def forward(self, input: Dict[str, Tensor]) -> Tensor:
            low = input["low"]
            x = self.cbr(input["high"])
            x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
            return self.low_classifier(low) + self.high_classifier(x)


    class Whole(nn.Module):
        def __init__(self, backbone: nn.Module, classifier: nn.Module):
            super().__init__()
            self.backbone = backbone
            self.classifier = classifier

        def forward(self, input):
            features = self.backbone(input)
            out = self.classifier(features)
            out = F.interpolate(out, size=input.shape[-2:], mode="bilinear", align_corners=False)
            result = OrderedDict()
            result["out"] = out
            return result


    def build_head():
        return Whole(Getter(Body(), {"layer1": "low", "layer2": "high"}), Head(6, 8, 5))
""")

def test_dict_of_maps_from_module_handed_in(tmp_path):
    pkg = tmp_path / "segpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "seg.py").write_text(SEG)
    translate_beside(tmp_path, "segpkg/seg.py")
    code = (pkg / "seg_nnx.py").read_text()
    assert "input_shape = x.shape[1:3]" in code, code
    # a head taking the dict (Dict[str, Tensor]) reads its maps channels-last, untransposed
    assert "size=low.shape[1:3]" in code and "self.low_classifier(low)" in code, code
    for builder in ("build", "build_head"):
        maps_parity_beside(tmp_path, "segpkg.seg", (2, 3, 16, 12), builder=builder)
