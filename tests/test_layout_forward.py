"""Forward-pass layout failures of the timm corpus (models that build and load
weights, then fail on a channels-last value read in torch order): lists of
tensors handed between modules, parameters wrapped in lists, and the like.
Each case: torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom typing import List, Optional\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def parity(source, tmp_path, cls, inputs):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(source), tmp_path)
    run_parity(result, tmod, jmod, wmod, cls, inputs)
    run_parity(result, tmod, jmod, wmod, cls, inputs, jit=True)
    return result


LISTS = """
    class SequentialList(nn.Sequential):
        def __init__(self, *args):
            super().__init__(*args)

        def forward(self, x) -> List[torch.Tensor]:
            for module in self:
                x = module(x)
            return x


    class Block(nn.Module):
        def __init__(self, cin, skip, cout, is_first):
            super().__init__()
            self.is_first = is_first
            self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
            self.conv6 = nn.Conv2d(cout + (0 if is_first else skip), cout, 1)

        def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
            if not isinstance(x, list):
                x = [x]
            d1 = self.conv1(x[0])
            if self.is_first:
                out = self.conv6(d1)
                return [out, out]
            else:
                return [self.conv6(torch.cat([d1, x[1]], 1)), x[1]]


    class Root(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 1)

        def forward(self, x_children: List[torch.Tensor]):
            x = self.conv(torch.cat(x_children, 1))
            return x + x_children[0]


    class Tree(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.root = Root(3 * c, c)

        def forward(self, x, children: Optional[List[torch.Tensor]] = None):
            if children is None:
                children = []
            children.append(x)
            x1 = self.conv(x)
            x2 = self.conv(x1)
            return self.root([x2, x1] + children)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.features = SequentialList(Block(8, 8, 8, True), Block(8, 8, 8, False))
            self.tree = Tree(8)

        def forward(self, x):
            x = self.stem(x)
            x = self.features([x])
            x = self.tree(x[0])
            return x.mean((2, 3))
"""


def test_lists_of_tensors_between_modules(tmp_path):
    """selecsls (`if not isinstance(x, list): x = [x]`, blocks reached through a
    Sequential subclass) and dla (`children = []` default, `[x2, x1] + children`
    handed to a root that concatenates them): the list's items keep their layout."""
    result = parity(LISTS, tmp_path, "Net", [rand(2, 3, 8, 8)])
    assert "jnp.transpose" not in result.code.split("class Net")[0]


SHADOWED_HELPER = """
    class Pool(nn.Module):
        def __init__(self, flatten: bool = False):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten(1) if flatten else nn.Identity()

        def forward(self, x):
            return self.flatten(self.pool(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.pool = Pool(flatten=True)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(self.pool(self.conv(x)))
"""


def test_helper_shadowed_by_a_parameter(tmp_path):
    """timm's SelectAdaptivePool2d(flatten=True): `nn.Flatten(1) if flatten else ...`
    must not call the bool; the flatten helper is reached through a second name."""
    result = parity(SHADOWED_HELPER, tmp_path, "Net", [rand(2, 3, 8, 8)])
    assert "_t2n_flatten = flatten" in result.code
