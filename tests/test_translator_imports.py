"""The translator reads runtime helper classes' bases from their source: a
translation imports neither JAX, Flax nor torch (seconds per process)."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

from torch2nnx.translator.factories import _nnx_layer_base


def test_static_bases_agree_with_the_classes():
    from flax import nnx

    from torch2nnx.runtime import helpers

    for name, cls in vars(helpers).items():
        if not inspect.isclass(cls) or cls.__module__ != helpers.__name__:
            continue
        want = None
        for c in cls.__mro__[1:]:
            if c.__module__.startswith("flax.nnx.nn.") and getattr(nnx, c.__name__, None) is c:
                want = "nnx." + c.__name__
                break
        assert _nnx_layer_base(name) == want, name
    assert _nnx_layer_base("TorchBatchNorm") == "nnx.BatchNorm"


def test_translating_imports_no_array_library():
    code = textwrap.dedent('''
        import sys
        from torch2nnx.api import translate_source
        src = """
        import torch.nn as nn
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm2d(4)
                self.conv = nn.Conv2d(4, 4, 3)
            def forward(self, x):
                return self.conv(self.bn(x))
        """
        out = translate_source(src, "m.py")
        assert "nnx.BatchNorm" in out.code or "BatchNorm" in out.code
        print(sorted(m for m in ("jax", "flax", "torch") if m in sys.modules))
    ''')
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
