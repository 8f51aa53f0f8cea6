"""One class shared by two files of a run: one hands it a channels-last image
batch, the other a tensor whose rank nobody knows (torchvision's
``StochasticDepth``: maxvit's maps and MViT's (B, N, C) tokens; issue 12).
Merged over the files, its parameter takes the image, and MViT used to pay the
image's transpose on its tokens (``axis 3 is out of bounds``) only when both
models were translated in one run. The cross-file merge now marks the class as
running on other ranks too, as the merge within one file does (any_rank.py):
its summary says so, and the caller of unknown rank moves its tensor only at
the image's rank, and back. Torch vs NNX, perturbed weights, outputs and
parameter gradients, eager and nnx.jit, both files translated in one run."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import torch

from harness import parity_in_package
from test_workflow import run

torch.set_num_threads(1)

SCALE = textwrap.dedent('''\
    import torch
    from torch import nn


    class BatchScale(nn.Module):
        """Scales each sample by its own factor: a (N, 1, ..., 1) tensor built
        from the input's batch size and rank, as stochastic depth's noise is."""

        def __init__(self, p: float):
            super().__init__()
            self.p = p

        def forward(self, x):
            size = [x.shape[0]] + [1] * (x.ndim - 1)
            noise = torch.arange(1, x.shape[0] + 1, dtype=x.dtype).reshape(size)
            return x * (noise * self.p)
''')

MAPS = textwrap.dedent('''\
    import torch
    from torch import nn

    from .scale import BatchScale


    class MapNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.scale = BatchScale(0.5)
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            x = self.conv(x)
            return self.head(x + self.scale(x))
''')

TOKENS = textwrap.dedent('''\
    import torch
    from torch import nn

    from .scale import BatchScale


    class TokenNet(nn.Module):
        def __init__(self, c: int = 8):
            super().__init__()
            self.embed = nn.Linear(6, c)
            self.cls_token = nn.Parameter(torch.zeros(c))
            self.scale = BatchScale(0.25)
            self.head = nn.Linear(c, 3)

        def forward(self, x):
            x = self.embed(x)
            # the class token's cat: a tensor of a rank the translation does not know
            x = torch.cat((self.cls_token.expand(x.size(0), -1).unsqueeze(1), x), dim=1)
            x = x + self.scale(x)
            return self.head(x)
''')


@pytest.fixture
def translated(tmp_path, monkeypatch):
    pkg = tmp_path / "xrankpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "scale.py").write_text(SCALE)
    (pkg / "maps.py").write_text(MAPS)
    (pkg / "tokens.py").write_text(TOKENS)
    r = run("translate", pkg / "maps.py", pkg / "tokens.py", "--suffix", "_nnx", "--no-cache")
    assert r.exit_code == 0, r.output
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for name in list(sys.modules):
        if name.startswith("xrankpkg"):
            del sys.modules[name]


@pytest.mark.parametrize("jit", [False, True])
def test_a_class_shared_by_an_image_and_tokens_of_unknown_rank_in_another_file(translated, jit):
    code = (translated / "tokens_nnx.py").read_text()
    # the token model moves its tensor to the image's layout only at the image's rank
    assert "map_order(" in code and "torch_order(" in code, code
    assert "Takes x as (N, H, W, C)" in (translated / "scale_nnx.py").read_text()
    rng = np.random.default_rng(0)
    image = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    parity_in_package("xrankpkg.maps", "MapNet", image, image.transpose(0, 2, 3, 1), jit)
    tokens = rng.standard_normal((3, 5, 6)).astype(np.float32)
    parity_in_package("xrankpkg.tokens", "TokenNet", tokens, tokens, jit)
