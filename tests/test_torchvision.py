"""torchvision's classification models, translated unmodified from the
installed package (never copied here), at numeric parity with torch.

Skipped when torchvision is not installed (it needs torch 2.14.1 here).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import numpy as np
import pytest

torchvision = pytest.importorskip("torchvision")

from harness import load_module, make_input, run_parity  # noqa: E402

import torch2nnx  # noqa: E402

MODELS = Path(torchvision.__file__).parent / "models"

# file, class, constructor kwargs (a function of the module: classes are passed in), input
def rngs_kw(rngs):
    return {} if rngs is None else {"rngs": rngs}


CASES = {
    "resnet18": ("resnet", "ResNet", lambda m, r: dict(block=m.BasicBlock, layers=[1, 1, 1, 1], num_classes=10),
                 "float32[2,3,64,64]"),
    "resnet50": ("resnet", "ResNet", lambda m, r: dict(block=m.Bottleneck, layers=[1, 2, 1, 1], num_classes=10),
                 "float32[2,3,64,64]"),
    "resnext": ("resnet", "ResNet", lambda m, r: dict(block=m.Bottleneck, layers=[1, 1, 1, 1], num_classes=10,
                                                     groups=4, width_per_group=8), "float32[2,3,64,64]"),
    "vgg11_bn": ("vgg", "VGG", lambda m, r: dict(features=m.make_layers(m.cfgs["A"], batch_norm=True, **rngs_kw(r)),
                                                num_classes=10), "float32[1,3,32,32]"),
    "alexnet": ("alexnet", "AlexNet", lambda m, r: dict(num_classes=10), "float32[2,3,96,96]"),
    "squeezenet1_0": ("squeezenet", "SqueezeNet", lambda m, r: dict(version="1_0", num_classes=10),
                      "float32[2,3,64,64]"),
    "squeezenet1_1": ("squeezenet", "SqueezeNet", lambda m, r: dict(version="1_1", num_classes=10),
                      "float32[2,3,64,64]"),
    "shufflenet_v2": ("shufflenetv2", "ShuffleNetV2", lambda m, r: dict(
        stages_repeats=[1, 2, 1], stages_out_channels=[8, 16, 32, 64, 128], num_classes=10), "float32[2,3,64,64]"),
    "densenet": ("densenet", "DenseNet", lambda m, r: dict(growth_rate=8, block_config=(2, 2), num_init_features=16,
                                                          bn_size=2, drop_rate=0.2, num_classes=10),
                 "float32[2,3,64,64]"),
    "googlenet": ("googlenet", "GoogLeNet", lambda m, r: dict(num_classes=10, aux_logits=True, init_weights=True),
                  "float32[2,3,64,64]"),
    "inception_v3": ("inception", "Inception3", lambda m, r: dict(num_classes=10, aux_logits=False, init_weights=False),
                     "float32[1,3,96,96]"),
    "mnasnet0_5": ("mnasnet", "MNASNet", lambda m, r: dict(alpha=0.5, num_classes=10), "float32[2,3,64,64]"),
}


def translate_model(file: str, tmp: Path):
    src = MODELS / f"{file}.py"
    t0 = time.perf_counter()
    result = torch2nnx.translate(src.read_text(), str(src), module_name=f"{file}_nnx",
                                 package="torchvision.models")
    elapsed = time.perf_counter() - t0
    (tmp / f"{file}_nnx.py").write_text(result.code)
    (tmp / f"{file}_nnx_weights.py").write_text(result.weights_code)
    return result, elapsed


# models whose file imports torchvision.ops.misc: both are translated in one run
def _v3(m, r, arch):
    setting, last_channel = m._mobilenet_v3_conf(arch, width_mult=0.25)
    return dict(inverted_residual_setting=setting, last_channel=last_channel, num_classes=10)


def _fused(m, r):
    setting = [m.FusedMBConvConfig(1, 3, 1, 8, 8, 1), m.FusedMBConvConfig(4, 3, 2, 8, 16, 2),
               m.MBConvConfig(4, 3, 2, 16, 24, 2)]
    return dict(inverted_residual_setting=setting, dropout=0.2, stochastic_depth_prob=0.2, num_classes=10,
                last_channel=64)


MULTI = {
    "efficientnet_b0": ("efficientnet", "EfficientNet", lambda m, r: dict(
        inverted_residual_setting=m._efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.25)[0],
        dropout=0.2, num_classes=10), "float32[2,3,64,64]", ("ops.stochastic_depth",)),
    "regnet_y": ("regnet", "RegNet", lambda m, r: dict(
        block_params=m.BlockParams.from_init_params(depth=4, w_0=8, w_a=8.0, w_m=2.0, group_width=8, se_ratio=0.25),
        num_classes=10, stem_width=8), "float32[2,3,64,64]", ("ops.stochastic_depth",)),
    "regnet_x": ("regnet", "RegNet", lambda m, r: dict(
        block_params=m.BlockParams.from_init_params(depth=3, w_0=16, w_a=12.0, w_m=2.5, group_width=8),
        num_classes=10, stem_width=16), "float32[2,3,64,64]", ()),
    "convnext": ("convnext", "ConvNeXt", lambda m, r: dict(
        block_setting=[m.CNBlockConfig(8, 16, 1), m.CNBlockConfig(16, 32, 2), m.CNBlockConfig(32, None, 1)],
        stochastic_depth_prob=0.1, layer_scale=0.5, num_classes=10), "float32[2,3,64,64]", ("ops.stochastic_depth",)),
    "efficientnet_v2": ("efficientnet", "EfficientNet", _fused, "float32[2,3,64,64]", ("ops.stochastic_depth",)),
    "mobilenet_v2": ("mobilenetv2", "MobileNetV2", lambda m, r: dict(num_classes=10, width_mult=0.25),
                     "float32[2,3,64,64]", ()),
    "mobilenet_v3_small": ("mobilenetv3", "MobileNetV3", lambda m, r: _v3(m, r, "mobilenet_v3_small"),
                           "float32[2,3,64,64]", ()),
    "mobilenet_v3_large": ("mobilenetv3", "MobileNetV3", lambda m, r: _v3(m, r, "mobilenet_v3_large"),
                           "float32[2,3,64,64]", ()),
}


def translate_run(file: str, extra, tmp: Path):
    import sys

    from torch2nnx.api import translate_many

    root = MODELS.parent
    mods = ["ops.misc", f"models.{file}", *extra]
    files = {f"torchvision.{m}": (str(root / (m.replace(".", "/") + ".py")),
                                  (root / (m.replace(".", "/") + ".py")).read_text()) for m in mods}
    targets = {m: m.rpartition(".")[2] + "_nnx" for m in files}
    t0 = time.perf_counter()
    results = translate_many(files, targets)
    elapsed = time.perf_counter() - t0
    for m, r in results.items():
        (tmp / f"{targets[m]}.py").write_text(r.code)
        (tmp / f"{targets[m]}_weights.py").write_text(r.weights_code)
    sys.path.insert(0, str(tmp))  # the translations import each other by module name
    return results[f"torchvision.models.{file}"], elapsed, results


@pytest.mark.parametrize("name", sorted(MULTI))
def test_torchvision_multifile_parity(name, tmp_path):
    import sys

    file, cls, kwargs, spec, extra = MULTI[name]
    result, elapsed, results = translate_run(file, extra, tmp_path)
    try:
        other = [d for r in results.values() if r is not result for d in r.diagnostics if d.needs_todo]
        assert not other, "\n".join(d.format() for d in other)
        check_parity(name, result, elapsed, file, cls, kwargs, spec, tmp_path)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("misc_nnx", None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_torchvision_parity(name, tmp_path):
    file, cls, kwargs, spec = CASES[name]
    result, elapsed = translate_model(file, tmp_path)
    check_parity(name, result, elapsed, file, cls, kwargs, spec, tmp_path)


def check_parity(name, result, elapsed, file, cls, kwargs, spec, tmp_path):
    """Model code without TODOs, at parity eagerly and under nnx.jit."""
    todos = [d for d in result.diagnostics if d.needs_todo]
    assert not todos, "\n".join(d.format() for d in todos)
    tmod = importlib.import_module(f"torchvision.models.{file}")
    jmod = load_module(tmp_path / f"{file}_nnx.py")
    wmod = load_module(tmp_path / f"{file}_nnx_weights.py")
    inputs = [make_input(spec, np.random.default_rng(0))]
    diff = run_parity(result, tmod, jmod, wmod, cls, inputs, kwargs=kwargs)
    run_parity(result, tmod, jmod, wmod, cls, inputs, kwargs=kwargs, jit=True)
    print(f"{name}: max abs diff {diff:.2e}, {result.todo_count} TODOs, translated in {elapsed:.2f}s")


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.py")), ids=lambda p: p.name)
def test_every_model_file_translates(path):
    """Every torchvision model file translates without an internal error, and
    what the translator cannot do is marked, never left as unmarked torch."""
    result = torch2nnx.translate(path.read_text(), str(path), package="torchvision.models")
    compile(result.code, str(path), "exec")
    needs = [d for d in result.diagnostics if d.needs_todo]
    marked = result.code.count("# TODO(torch2nnx)")
    assert (marked > 0) == bool(needs), result.code
    if "import torch" in result.code:  # kept only for marked code, and marked itself
        assert "# TODO(torch2nnx): T2N003 still imported" in result.code, result.code
