"""The timm corpus cases that built and then failed to load their weights
(``unexpected keys``): parts of the model the weights loader never reached.
Each test ports perturbed torch weights with ``strict=True`` through the
generated weights module and checks parity in eval mode and under nnx.jit.
"""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


KWARGS_CONV = HEADER + textwrap.dedent("""
    def create_conv2d_pad(in_chs, out_chs, kernel_size, padding=0, **kwargs):
        kwargs.setdefault("bias", False)
        return nn.Conv2d(in_chs, out_chs, kernel_size, padding=padding, **kwargs)


    class ConvBN(nn.Sequential):
        def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, padding=0, **kwargs):
            super().__init__()
            self.add_module("conv", nn.Conv2d(
                in_channels, out_channels, kernel_size, stride=stride, padding=padding, **kwargs))
            self.add_module("bn", nn.BatchNorm2d(out_channels))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = ConvBN(3, 8, 3, stride=2, padding=1, groups=1)
            self.conv_dw = create_conv2d_pad(8, 8, 3, padding=1, groups=8, bias=True)
            self.downsample = nn.Sequential(nn.ReLU(), create_conv2d_pad(8, 16, 2, stride=2))

        def forward(self, x):
            return self.downsample(self.conv_dw(self.stem(x)))
""")


def test_conv_with_positional_arguments_and_kwargs(tmp_path):
    """timm's create_conv2d_pad and starnet's ConvBN: ``nn.Conv2d(i, o, k,
    stride=s, **kwargs)`` was left as torch (the **kwargs adapter took only the
    channels positionally), so the NNX model held a torch layer the loader never
    reached. The kernel size goes to the adapter by the row's parameter name."""
    result, tmod, jmod, wmod = translate_files(KWARGS_CONV, tmp_path)
    assert result.todo_count == 0, result.code
    assert '"kernel_size": kernel_size' in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 12, 12)], jit=True)


UNTRANSLATED = HEADER + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, args=(4, 4, 3)):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.conv = nn.Conv1d(*args)

        def forward(self, x):
            return self.conv(self.fc(x))
""")


def test_loader_names_torch_layers_left_in_place(tmp_path):
    """A torch layer the translation leaves under a TODO marker builds inside
    the NNX model; its state_dict entries are unexpected, and the loader's
    error names the layer that holds them, not only the keys."""
    import pytest
    from flax import nnx

    result, tmod, jmod, wmod = translate_files(UNTRANSLATED, tmp_path)
    assert result.todo_count == 1
    j_model = jmod.Net(rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"torch layers left untranslated \(see the TODO markers\): conv \(Conv1d\)"
                       r" \| unexpected keys: conv.weight, conv.bias$"):
        wmod.load_torch_state_dict(j_model, tmod.Net().state_dict())


ATTN_REGISTRY = HEADER + textwrap.dedent("""
    from functools import partial


    class EcaModule(nn.Module):
        def __init__(self, channels=None, use_mlp=False):
            super().__init__()
            self.fc = nn.Linear(channels, channels, bias=use_mlp)

        def forward(self, x):
            return x * self.fc(x).sigmoid()


    class SEModule(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.fc = nn.Linear(channels, channels // 2)
            self.fc2 = nn.Linear(channels // 2, channels)

        def forward(self, x):
            return x * self.fc2(self.fc(x).relu()).sigmoid()


    def get_attn(attn_type):
        module_cls = None
        if attn_type == "se":
            module_cls = SEModule
        elif attn_type == "eca":
            module_cls = EcaModule
        elif attn_type == "ecam":
            module_cls = partial(EcaModule, use_mlp=True)
        return module_cls


    def create_attn(attn_type, channels, **kwargs):
        module_cls = get_attn(attn_type)
        if module_cls is not None:
            return module_cls(channels, **kwargs)
        return None


    class Net(nn.Module):
        def __init__(self, attn="eca"):
            super().__init__()
            self.fc = nn.Linear(6, 16)
            self.se = create_attn(attn, 16)
            self.se2 = create_attn("se", 16)

        def forward(self, x):
            return self.se2(self.se(self.fc(x)))
""")


def test_a_local_holding_a_class_from_a_registry_function_builds_a_layer(tmp_path):
    """timm's create_attn: ``module_cls = get_attn(name); return
    module_cls(channels, **kwargs)``. get_attn returns layer classes, so the
    call builds a layer and create_attn takes rngs (ecaresnet: EcaModule built
    without them; before that, the torch create_attn left a torch layer)."""
    result, tmod, jmod, wmod = translate_files(ATTN_REGISTRY, tmp_path)
    assert "def create_attn(attn_type, channels, *, rngs: nnx.Rngs, **kwargs)" in result.code, result.code
    assert "module_cls(channels, **kwargs, rngs=rngs)" in result.code
    for attn in ("eca", "ecam"):
        run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 6)], kwargs={"attn": attn}, jit=True)
