"""Runtime helpers named like a module-level name of the source, and torch
imports inside a top-level ``try``/``if`` (timm's norm.py / fast_norm.py).

``try: from torch.nn.functional import rms_norm / except ImportError: <fallback>``
binds ``rms_norm`` at module level after the emitted helper ``rms_norm``; a
source ``def rms_norm`` of its own does too. Before, calls the F.rms_norm row
rewrote to the helper reached torch's function (a TypeError on jax arrays) or
the source's own function (a different computation). Now such helpers are
reached by their alias, and torch imports in top-level blocks are dropped.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


TRY_IMPORT = HEADER + textwrap.dedent("""
    try:
        from torch.nn.functional import rms_norm
    except ImportError:
        def rms_norm(x, normalized_shape, weight=None, eps=1e-5):
            return x


    def pad(x, n):
        # the source's own `pad`, unlike F.pad: a helper of that name must not replace it
        return x * n


    class Norm(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))
            self.fc = nn.Linear(dim, dim)

        def forward(self, x):
            y = rms_norm(self.fc(x), (x.shape[-1],), self.weight, 1e-6)
            y = F.pad(y, (1, 1), value=0.5)
            return pad(y, 3.0)
""")


def test_torch_import_in_try_and_helpers_named_like_module_names(tmp_path):
    result, tmod, jmod, wmod = translate_files(TRY_IMPORT, tmp_path)
    code = result.code
    assert "import rms_norm" not in code, code  # the torch import in `try` is dropped
    assert "_t2n_rms_norm = rms_norm" in code and "_t2n_pad = pad" in code, code
    assert not re.search(r"^\s*(from|import) torch\b", code, re.M), code
    assert "TODO" not in code, code
    run_parity(result, tmod, jmod, wmod, "Norm", [rand(2, 3, 8)], jit=True)


OWN_DEF = HEADER + textwrap.dedent("""
    class Block(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return F.rms_norm(x, (x.shape[-1],), self.weight) + rms_norm(x, 2.0)


    def rms_norm(x, scale):
        # the file's own rms_norm, defined after its use and unlike F.rms_norm
        return x * scale
""")


def test_helper_named_like_a_later_def(tmp_path):
    result, tmod, jmod, wmod = translate_files(OWN_DEF, tmp_path)
    assert "_t2n_rms_norm(" in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "Block", [rand(2, 5, 8)], jit=True)


def test_a_torch_name_offered_to_other_files_is_kept_and_marked():
    """``try: from torch.hub import load_state_dict_from_url`` never used in its
    file (torchvision's _internally_replaced_utils re-exports it): kept, so files
    importing it still import, with a TODO marker and a positioned T2N003."""
    from torch2nnx.api import translate_source

    src = ("import os\n\ntry:\n    from torch.hub import load_state_dict_from_url\n"
           "except ImportError:\n    from torch.utils.model_zoo import load_url as load_state_dict_from_url\n")
    r = translate_source(src, module_name="m")
    assert "from torch.hub import load_state_dict_from_url" in r.code
    assert r.code.count("# TODO(torch2nnx): T2N003") == 2, r.code
    assert [(d.line, d.code) for d in r.diagnostics] == [(4, "T2N003"), (6, "T2N003")]
    compile(r.code, "m.py", "exec")
