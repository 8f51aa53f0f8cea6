"""Models handed in and taken apart as sequences (sequence_values.py):
torchvision's detection and segmentation builders do ``backbone =
backbone.features`` on a model of another file, then ``enumerate(backbone)``,
``len(backbone)``, ``backbone[i].out_channels`` and ``backbone[:k]``, and wrap
it in a new ``nn.Sequential``. Before, the translation iterated the
nnx.Sequential itself (``TypeError: 'Sequential' object is not iterable``)."""

from __future__ import annotations

import textwrap

from harness import parity_beside, translate_beside

BACKBONES = textwrap.dedent("""
    import torch.nn as nn


    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, stride, 1)
            self.bn = nn.BatchNorm2d(cout)
            self.out_channels = cout
            self._is_cn = stride > 1

        def forward(self, x):
            return self.bn(self.conv(x)).relu()


    class Net(nn.Module):
        def __init__(self, widths=(4, 6, 8, 10)):
            super().__init__()
            layers, cin = [], 3
            for i, w in enumerate(widths):
                layers.append(Block(cin, w, 2 if i % 2 else 1))
                cin = w
            self.features = nn.Sequential(*layers)
            self.fc = nn.Linear(cin, 3)

        def forward(self, x):
            return self.fc(self.features(x).mean((2, 3)))


    class Other(Net):
        pass
""")

HEADS = textwrap.dedent("""
    from typing import Union

    import torch.nn as nn

    from .backbones import Net, Other


    def _extract(backbone: Union[Net, Other], out_channels: int = 5) -> nn.Module:
        backbone = backbone.features
        stages = [0] + [i for i, b in enumerate(backbone) if getattr(b, "_is_cn", False)] + [len(backbone) - 1]
        for b in backbone[: stages[1]]:
            for p in b.parameters():
                p.requires_grad_(False)
        last = backbone[stages[-1]].out_channels
        return nn.Sequential(backbone, nn.Conv2d(last, out_channels, 1))


    def _extract_any(model: nn.Module) -> nn.Module:
        feats = model.features
        return nn.Sequential(feats[: len(feats) - 1], nn.Conv2d(feats[-2].out_channels, 4, 1))


    def build():
        return _extract(Net())


    def build_any():
        return _extract_any(Other())
""")


def _package(tmp_path):
    pkg = tmp_path / "seqpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "backbones.py").write_text(BACKBONES)
    (pkg / "heads.py").write_text(HEADS)
    translate_beside(tmp_path, "seqpkg/heads.py")
    return pkg


def test_backbone_features_taken_apart(tmp_path):
    pkg = _package(tmp_path)
    code = (pkg / "heads_nnx.py").read_text()
    # what the translator cannot see as a Sequential is read as one at run time
    assert "enumerate(module_sequence(backbone))" in code, code
    assert "module_item(backbone, stages[-1]).out_channels" in code, code
    parity_beside(tmp_path, "seqpkg.heads", (2, 3, 12, 12), cls="build", image_out=True)


def test_module_annotated_param_taken_apart(tmp_path):
    _package(tmp_path)
    parity_beside(tmp_path, "seqpkg.heads", (2, 3, 12, 12), cls="build_any", image_out=True)
