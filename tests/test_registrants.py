"""Registries filled from other files (torch2nnx/registrants.py).

timm's ``mobilevit.py`` calls ``register_block('mobilevit', ...)`` at module
level, filling ``byobnet._block_registry``; torch imports it whenever
``byobnet`` is imported, because the package's ``__init__.py`` does. The
translation of the registry file must have the same blocks: the registering
file is followed and translated, registers into the translated registry, and
the registry's translation imports it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from harness import parity_beside, translate_beside

from torch2nnx.follow import followed
from torch2nnx.registrants import registrants, registry_functions

REGISTRY = """
import torch
import torch.nn as nn


class ConvBlock(nn.Module):
    def __init__(self, chs):
        super().__init__()
        self.conv = nn.Conv2d(chs, chs, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))


_block_registry = dict(conv=ConvBlock)


def register_block(block_type, block_fn):
    _block_registry[block_type] = block_fn


def block(block_type):
    def wrap(cls):
        _block_registry[block_type] = cls
        return cls
    return wrap


def create_block(block, **kwargs):
    assert block in _block_registry, f'Unknown block type ({block}'
    return _block_registry[block](**kwargs)


class Net(nn.Module):
    def __init__(self, types=("conv",)):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(*[create_block(t, chs=8) for t in types])
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(x.mean((2, 3)))
"""

# imported by the package's __init__: torch has it whenever registry.py is imported
MIX = """
import torch
import torch.nn as nn

from .registry import block, register_block


@block('dw')
class DepthwiseBlock(nn.Module):
    def __init__(self, chs):
        super().__init__()
        self.conv = nn.Conv2d(chs, chs, 3, padding=1, groups=chs)

    def forward(self, x):
        return x + self.conv(x)


class MixBlock(nn.Module):
    def __init__(self, chs):
        super().__init__()
        self.conv = nn.Conv2d(chs, chs, 1)
        self.norm = nn.BatchNorm2d(chs)

    def forward(self, x):
        return x + self.norm(self.conv(x))


register_block('mix', MixBlock)
"""

# not imported by the package: torch has it only when the user imports this file
GATE = """
import torch
import torch.nn as nn

from .registry import Net, register_block


class GateBlock(nn.Module):
    def __init__(self, chs):
        super().__init__()
        self.fc = nn.Conv2d(chs, chs, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc(x))


register_block('gate', GateBlock)
"""


def _package(root: Path) -> Path:
    pkg = root / "blkpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import registry\nfrom .mix_blocks import *\n")
    (pkg / "registry.py").write_text(textwrap.dedent(REGISTRY))
    (pkg / "mix_blocks.py").write_text(textwrap.dedent(MIX))
    (pkg / "gate_blocks.py").write_text(textwrap.dedent(GATE))
    return pkg


def test_registry_functions_are_the_ones_writing_module_values():
    src = textwrap.dedent("""
        _reg = {}
        _items = []
        _default = None
        def add(k, v):
            _reg[k] = v
        def push(v):
            _items.append(v)
        def set_default(v):
            global _default
            _default = v
        def register(name):
            def wrap(fn):
                _reg[name] = fn
                return fn
            return wrap
        def lookup(k):
            return _reg[k]
        def local_only(k, v):
            _reg = {}
            _reg[k] = v
        def param(_reg, k, v):
            _reg[k] = v
    """)
    assert registry_functions(src) == {"add", "push", "set_default", "register"}


def test_registering_files_are_those_torch_imports_with_the_registry(tmp_path):
    pkg = _package(tmp_path)
    # mix_blocks.py comes with the package's __init__; gate_blocks.py only when imported
    assert registrants(pkg / "registry.py", "blkpkg") == [(pkg / "mix_blocks.py").resolve()]
    files, _ = followed([pkg / "registry.py"])
    assert (pkg / "mix_blocks.py").resolve() in files
    assert (pkg / "gate_blocks.py").resolve() not in files


def test_a_registry_filled_from_another_file_has_its_blocks_at_parity(tmp_path):
    """Importing the registry's translation alone has the block the package's
    __init__ registers in torch (ported weights, outputs equal, also under jit);
    a file registering only when imported does so into the translated registry."""
    pkg = _package(tmp_path)
    translate_beside(tmp_path, "blkpkg/registry.py")
    out = (pkg / "registry_nnx.py").read_text()
    assert "from . import mix_blocks_nnx" in out
    assert "gate_blocks" not in out
    assert "from .registry_nnx import block, register_block" in (pkg / "mix_blocks_nnx.py").read_text()
    parity_beside(tmp_path, "blkpkg.registry", (2, 3, 8, 8), args="types=('conv', 'mix', 'dw', 'conv')")

    translate_beside(tmp_path, "blkpkg/gate_blocks.py")
    assert "from .registry_nnx import Net, register_block" in (pkg / "gate_blocks_nnx.py").read_text()
    parity_beside(tmp_path, "blkpkg.gate_blocks", (2, 3, 8, 8), args="types=('mix', 'gate')")


def test_a_registering_file_importing_another_is_not_imported_into_a_cycle(tmp_path):
    """timm's cond_conv2d imports conv2d_same, both registering into _fx: imported
    at the end of _fx's translation, cond_conv2d would find conv2d_same
    half-initialized when the import started there (an import cycle torch's package
    __init__ never meets). It is named in a comment instead; the translations import
    from either end."""
    pkg = tmp_path / "cycpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .same import *\nfrom .cond import *\n")
    (pkg / "fx.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        _leaf = set()
        def register_leaf(m):
            _leaf.add(m)
            return m
    """))
    (pkg / "same.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        from .fx import register_leaf
        def same_conv(chs):
            return nn.Conv2d(chs, chs, 3, padding=1)
        @register_leaf
        class Same(nn.Module):
            def __init__(self, chs=4):
                super().__init__()
                self.conv = same_conv(chs)
            def forward(self, x):
                return self.conv(x)
    """))
    (pkg / "cond.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        from .fx import register_leaf
        from .same import same_conv
        @register_leaf
        class Net(nn.Module):
            def __init__(self, chs=4):
                super().__init__()
                self.stem = nn.Conv2d(3, chs, 1)
                self.conv = same_conv(chs)
            def forward(self, x):
                return self.conv(self.stem(x))
    """))
    translate_beside(tmp_path, "cycpkg/cond.py")
    out = (pkg / "fx_nnx.py").read_text()
    assert "from . import same_nnx" in out
    assert "from . import cond_nnx" not in out and "cycpkg.cond_nnx fills this file's registries" in out
    parity_beside(tmp_path, "cycpkg.cond", (2, 3, 8, 8), image_out=True)
    parity_beside(tmp_path, "cycpkg.same", (2, 4, 8, 8), cls="Same", image_out=True)
