"""The layout line in a translated class's docstring (output contract): a class
taking or returning channels-last arrays where torch's takes or returns
channels-first ones says so, from the summary ``verify`` reads."""

from __future__ import annotations

import ast
import textwrap

import numpy as np

from harness import run_parity, translate_files

MODEL = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent('''
    class Block(nn.Module):
        """A block.

        Two lines of its own.
        """

        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.a(x)


    class Net(nn.Module):
        """Pools."""

        def __init__(self):
            super().__init__()
            self.b = Block()
            self.fc = nn.Linear(4, 2)

        def forward(self, x, y):
            return self.fc(self.b(x).mean((2, 3))) + y


    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x)


    class Audio(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv1d(3, 4, 3)

        def forward(self, x):
            return self.c(x)
''')


def _docs(code: str) -> dict:
    return {n.name: ast.get_docstring(n) for n in ast.parse(code).body if isinstance(n, ast.ClassDef)}


def test_classes_say_what_layout_they_take_and_return(tmp_path):
    result, tmod, jmod, wmod = translate_files(MODEL, tmp_path)
    docs = _docs(result.code)
    assert docs["Block"].startswith("A block.\n\nTwo lines of its own.\n\n")
    assert " ".join(docs["Block"].split()[7:]) == ("Takes x as (N, H, W, C) where torch takes (N, C, H, W); "
                                                   "returns (N, H, W, C) where torch returns (N, C, H, W).")
    assert docs["Net"] == "Pools.\n\nTakes x as (N, H, W, C) where torch takes (N, C, H, W)."
    assert docs["Tokens"] is None  # takes and returns torch's layouts: no line
    assert docs["Audio"].startswith("Takes x as (N, L, C) where torch takes (N, C, L); returns (N, L, C)")
    # the same record verify reads
    assert result.layout_of("Net").takes["x"].perm == (0, 2, 3, 1)
    rng = np.random.default_rng(0)
    run_parity(result, tmod, jmod, wmod, "Net",
               [rng.standard_normal((2, 3, 8, 8)).astype(np.float32), rng.standard_normal((2, 2)).astype(np.float32)],
               jit=True)
