"""Sequences of feature maps (sequence_values.py), from torchvision's detection backbones.

- ``x = list(x.values())`` on a dict of maps (an FPN's input, the features an
  IntermediateLayerGetter returns) is a list of maps in the dict's layout.
  Before, the values were of unknown layout: each ``x[i]`` was transposed as if
  in torch order before the lateral convs (channels-last maps transposed
  again: ``add got incompatible shapes (1,4,4,256), (1,2,4,256)``).
- A parameter annotated ``List[Tensor]`` is a list of maps: ``x[-1]`` a map
  in its callers' layout, ``x.append(y)`` a list's append (before:
  ``T2N001 Tensor.append is not supported`` and a transposed ``x[-1]``).
- A file re-exporting another file's classes by a star import
  (torchvision's ``mobilenet.py``: ``from .mobilenetv2 import *``) offers
  them: ``backbone: Union[nets.Net, ...]`` names a translated class, so
  ``enumerate(backbone.features)`` reads the layers of an nnx.Sequential
  (before: ``'Sequential' object is not iterable``).
"""

from __future__ import annotations

import textwrap

from harness import maps_parity_beside, parity_beside, translate_beside
from test_keyed_maps import GETTER

FPN = textwrap.dedent("""
    from collections import OrderedDict
    from typing import Dict, List, Optional, Tuple

    import torch.nn as nn
    import torch.nn.functional as F
    from torch import Tensor


""") + GETTER + textwrap.dedent("""
    class Body(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 3, 2, 1)
            self.layer1 = nn.Sequential(nn.Conv2d(4, 6, 3, 1, 1), nn.ReLU())
            self.layer2 = nn.Sequential(nn.Conv2d(6, 8, 3, 2, 1), nn.ReLU())

        def forward(self, x):
            return self.layer2(self.layer1(self.conv1(x)))


    class ExtraBlock(nn.Module):
        def forward(self, results: List[Tensor], x: List[Tensor], names: List[str]) -> Tuple[List[Tensor], List[str]]:
            pass


    class LastLevelMaxPool(ExtraBlock):
        def forward(self, x: List[Tensor], y: List[Tensor], names: List[str]) -> Tuple[List[Tensor], List[str]]:
            names.append("pool")
            x.append(F.max_pool2d(x[-1], 1, 2, 0))
            return x, names


    class FPN(nn.Module):
        def __init__(self, in_channels_list, out_channels, extra_blocks: Optional[ExtraBlock] = None):
            super().__init__()
            self.inner_blocks = nn.ModuleList()
            self.layer_blocks = nn.ModuleList()
            for c in in_channels_list:
                self.inner_blocks.append(nn.Conv2d(c, out_channels, 1))
                self.layer_blocks.append(nn.Conv2d(out_channels, out_channels, 3, padding=1))
            self.extra_blocks = extra_blocks

        def get_inner(self, x: Tensor, idx: int) -> Tensor:
            num_blocks = len(self.inner_blocks)
            if idx < 0:
                idx += num_blocks
            out = x
            for i, module in enumerate(self.inner_blocks):
                if i == idx:
                    out = module(x)
            return out

        def get_layer(self, x: Tensor, idx: int) -> Tensor:
            num_blocks = len(self.layer_blocks)
            if idx < 0:
                idx += num_blocks
            out = x
            for i, module in enumerate(self.layer_blocks):
                if i == idx:
                    out = module(x)
            return out

        def forward(self, x: Dict[str, Tensor]) -> Dict[str, Tensor]:
            names = list(x.keys())
            x = list(x.values())
            last_inner = self.get_inner(x[-1], -1)
            results = []
            results.append(self.get_layer(last_inner, -1))
            for idx in range(len(x) - 2, -1, -1):
                inner_lateral = self.get_inner(x[idx], idx)
                feat_shape = inner_lateral.shape[-2:]
                inner_top_down = F.interpolate(last_inner, size=feat_shape, mode="nearest")
                last_inner = inner_lateral + inner_top_down
                results.insert(0, self.get_layer(last_inner, idx))
            if self.extra_blocks is not None:
                results, names = self.extra_blocks(results, x, names)
            out = OrderedDict([(k, v) for k, v in zip(names, results)])
            return out


    class WithFPN(nn.Module):
        def __init__(self, backbone: nn.Module, return_layers, in_channels_list, out_channels, extra_blocks=None):
            super().__init__()
            if extra_blocks is None:
                extra_blocks = LastLevelMaxPool()
            self.body = Getter(backbone, return_layers=return_layers)
            self.fpn = FPN(in_channels_list, out_channels, extra_blocks=extra_blocks)
            self.out_channels = out_channels

        def forward(self, x: Tensor) -> Dict[str, Tensor]:
            x = self.body(x)
            x = self.fpn(x)
            return x


    def build():
        return WithFPN(Body(), {"layer1": "0", "layer2": "1"}, [6, 8], 5)
""")

BLOCKS = textwrap.dedent("""
    import torch.nn as nn

    __all__ = ["Net", "build_net"]


    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, stride, 1)
            self.bn = nn.BatchNorm2d(cout)
            self._is_cn = stride > 1

        def forward(self, x):
            return self.bn(self.conv(x)).relu()


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(Block(3, 4, 1), Block(4, 6, 2), Block(6, 8, 1), Block(8, 5, 2))
            self.fc = nn.Linear(5, 2)

        def forward(self, x):
            return self.fc(self.features(x).mean((2, 3)))


    def build_net():
        return Net()
""")

NETS = textwrap.dedent("""
    from .blocks import *  # noqa: F401, F403
    from .blocks import __all__ as blocks_all

    __all__ = blocks_all
""")

USE = textwrap.dedent("""
    from typing import Union

    import torch.nn as nn

    from . import nets


    def extract(backbone: Union[nets.Net, nets.Net], keep: int) -> nn.Module:
        backbone = backbone.features
        stages = [0] + [i for i, b in enumerate(backbone) if getattr(b, "_is_cn", False)] + [len(backbone) - 1]
        for b in backbone[: stages[keep]]:
            for parameter in b.parameters():
                parameter.requires_grad_(False)
        return nn.Sequential(backbone, nn.Conv2d(5, 3, 1))


    def build():
        return extract(nets.build_net(), 2)
""")

def test_dict_values_and_list_parameters(tmp_path):
    pkg = tmp_path / "fpnpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "fpn.py").write_text(FPN)
    p = translate_beside(tmp_path, "fpnpkg/fpn.py")
    assert "T2N001" not in p.stdout + p.stderr, p.stdout + p.stderr
    code = (pkg / "fpn_nnx.py").read_text()
    assert "self.get_inner(x[-1], -1)" in code, code  # the maps as they come, untransposed
    maps_parity_beside(tmp_path, "fpnpkg.fpn", (2, 3, 16, 12), builder="build", keys=["0", "1", "pool"])


def test_classes_star_reexported_by_a_module_of_the_run(tmp_path):
    pkg = tmp_path / "repkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "blocks.py").write_text(BLOCKS)
    (pkg / "nets.py").write_text(NETS)
    (pkg / "use.py").write_text(USE)
    translate_beside(tmp_path, "repkg/use.py")
    code = (pkg / "use_nnx.py").read_text()
    assert "enumerate(module_sequence(backbone))" in code, code
    parity_beside(tmp_path, "repkg.use", (2, 3, 16, 12), cls="build", image_out=True)
