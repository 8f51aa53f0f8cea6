"""``torch.manual_seed(s)`` in script code seeds what the translation draws
from (kept_data.manual_seed): ``rngs = nnx.Rngs(s)`` for the model
constructions after it, in a function (which then runs without rngs handed)
or at module level; torch stays seeded too where torch data code is kept."""

from __future__ import annotations

import numpy as np

from harness import translate_files

SCRIPT = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


def build(seed):
    torch.manual_seed(seed)
    return Net()


torch.manual_seed(3)
model = Net()
'''


def _kernel(m):
    return np.asarray(m.fc.kernel[...])


def test_manual_seed_becomes_the_rngs_seed(tmp_path):
    result, tmod, jmod, wmod = translate_files(SCRIPT, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "import torch" not in result.code  # nothing kept needs torch
    a, b, c = jmod.build(0), jmod.build(0), jmod.build(1)  # no rngs handed: the seed's
    np.testing.assert_array_equal(_kernel(a), _kernel(b))
    assert not np.array_equal(_kernel(a), _kernel(c))
    np.testing.assert_array_equal(_kernel(jmod.model), _kernel(jmod.build(3)))


def test_manual_seed_still_seeds_kept_torch_data_code(tmp_path):
    src = SCRIPT.replace("from torch import nn", "from torch import nn\nfrom torch.utils.data import DataLoader")
    src += '''

def shuffled(seed):
    torch.manual_seed(seed)
    loader = DataLoader(torch.arange(8), batch_size=8, shuffle=True)
    return next(iter(loader))
'''
    result, tmod, jmod, wmod = translate_files(src, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "torch.manual_seed(seed)" in result.code
    first = jmod.shuffled(5)  # the loader shuffles as torch's, seeded alike
    np.testing.assert_array_equal(np.asarray(first), tmod.shuffled(5).numpy())
    assert not np.array_equal(np.asarray(first), np.asarray(jmod.shuffled(6)))
    np.testing.assert_array_equal(_kernel(jmod.build(0)), _kernel(jmod.build(0)))
