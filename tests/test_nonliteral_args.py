"""Arguments that are not literals in the torch source.

Real model code passes variables everywhere (``nn.Upsample(scale_factor=2,
mode=mode)``, ``F.gelu(x, approximate=self.approximate)``). A row that reads
such an argument must never assume its default: it decides at run time, or
marks the call with a TODO. Each parity case below builds a module whose
constructor takes the value as a parameter and compares it with torch for a
value other than the default; each TODO case checks the marker.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import numpy as np
import pytest

import torch2nnx
from harness import make_input, run_parity, translate_files
from torch2nnx.rules.base import NOT_CONSTANT, Unsupported, bind

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def module(init_params: str, init: str, forward: str, args: str = "x") -> str:
    body = textwrap.indent(textwrap.dedent(init).strip(), " " * 8)
    fwd = textwrap.indent(textwrap.dedent(forward).strip(), " " * 8)
    return (HEADER + f"class M(nn.Module):\n    def __init__(self, {init_params}):\n        super().__init__()\n"
            f"{body}\n\n    def forward(self, {args}):\n{fwd}\n")


# (id, source, constructor kwargs for torch and nnx, inputs, fragment the translation contains, options)
PARITY = [
    ("gelu-functional", module("approximate='none'", "self.approximate = approximate",
                               "return F.gelu(x, approximate=self.approximate)"),
     {"approximate": "tanh"}, ("float32[2,5,7]",), '== "tanh"', {}),
    ("gelu-module", module("approximate='none'", "self.act = nn.GELU(approximate=approximate)",
                           "return self.act(x)"),
     {"approximate": "tanh"}, ("float32[2,5,7]",), '== "tanh"', {}),
    ("upsample-mode", module("mode='nearest', ac=None",
                             "self.up = nn.Upsample(scale_factor=2, mode=mode, align_corners=ac)",
                             "return self.up(x)"),
     {"mode": "bilinear", "ac": True}, ("float32[1,2,5,6]",), "mode=mode", {}),
    ("interpolate-mode", module("mode='nearest'", "self.mode = mode",
                                "return F.interpolate(x, scale_factor=2, mode=self.mode)"),
     {"mode": "bilinear"}, ("float32[1,2,5,6]",), "mode=self.mode", {}),
    # timm naflexvit's pos-embed resize: mode, align_corners and antialias are attributes
    ("interpolate-antialias", module("mode='bilinear', ac=False, aa=False",
                                     "self.mode = mode\nself.ac = ac\nself.aa = aa",
                                     "return F.interpolate(x, size=(4, 5), mode=self.mode, align_corners=self.ac, "
                                     "antialias=self.aa)"),
     {"mode": "bicubic", "ac": False, "aa": True}, ("float32[1,2,11,13]",), "antialias=self.aa", {}),
    ("maxpool-ceil-dilation", module("ceil_mode=False, dilation=1",
                                     "self.pool = nn.MaxPool2d(3, 2, ceil_mode=ceil_mode, dilation=dilation)",
                                     "return self.pool(x)"),
     {"ceil_mode": True, "dilation": 2}, ("float32[2,3,12,12]",), "ceil_mode=ceil_mode", {}),
    ("maxpool-stride-none", module("k=3, stride=None", "self.pool = nn.MaxPool2d(k, stride=stride)",
                                   "return self.pool(x)"),
     {"stride": None}, ("float32[2,3,12,12]",), "pool_stride(stride", {}),
    ("avgpool-count-include-pad", module("cip=True", "self.pool = nn.AvgPool2d(3, 2, 1, count_include_pad=cip)",
                                         "return self.pool(x)"),
     {"cip": False}, ("float32[1,2,10,10]",), "count_include_pad=cip", {}),
    ("avgpool-ceil-divisor", module("ceil_mode=False, div=None",
                                    "self.pool = nn.AvgPool2d(3, 2, 1, ceil_mode=ceil_mode, divisor_override=div)",
                                    "return self.pool(x)"),
     {"ceil_mode": True, "div": 3}, ("float32[1,2,11,11]",), "divisor_override=div", {}),
    ("conv-padding-mode", module("pm='zeros'", "self.conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode=pm)",
                                 "return self.conv(x)"),
     {"pm": "reflect"}, ("float32[2,3,8,8]",), "conv_padding_mode(", {}),
    ("conv-padding-mode-circular", module("pm='zeros', p=1",
                                          "self.conv = nn.Conv2d(3, 4, 3, padding=p, padding_mode=pm)",
                                          "return self.conv(x)"),
     {"pm": "circular", "p": 1}, ("float32[2,3,8,8]",), "conv_padding_mode(", {}),
    ("conv-padding-mode-unpadded", module("pm='zeros'", "self.conv = nn.Conv2d(3, 4, 1, padding_mode=pm)",
                                          "return self.conv(x)"),
     {"pm": "reflect"}, ("float32[2,3,8,8]",), 'padding="VALID"', {}),
    ("instancenorm-affine", module("affine=False", "self.norm = nn.InstanceNorm2d(6, affine=affine)",
                                   "return self.norm(x)"),
     {"affine": True}, ("float32[2,6,5,5]",), "use_scale=affine", {}),
    ("batchnorm-affine-momentum", module("affine=True, momentum=0.1",
                                         "self.norm = nn.BatchNorm2d(3, affine=affine, momentum=momentum)",
                                         "return self.norm(x)"),
     {"affine": False, "momentum": 0.3}, ("float32[2,3,4,4]",), "use_scale=affine", {"train": True}),
    ("pad-mode-channels-last", module("mode='constant'", "self.conv = nn.Conv2d(3, 3, 1)\nself.mode = mode",
                                      "return F.pad(self.conv(x), (1, 1, 2, 0), mode=self.mode)"),
     {"mode": "reflect"}, ("float32[2,3,4,5]",), "mode=self.mode", {}),
    ("one-hot", module("n=3", "self.n = n", "return F.one_hot(x, num_classes=self.n)"),
     {"n": 6}, ("int32[2,4]:0:5",), "self.n", {}),
    ("mse-reduction", module("reduction='mean'", "self.reduction = reduction",
                             "return F.mse_loss(x, y, reduction=self.reduction)", "x, y"),
     {"reduction": "none"}, ("float32[3,4]", "float32[3,4]"), "reduction=self.reduction)", {}),
    ("l1-reduction", module("reduction='mean'", "self.reduction = reduction",
                            "return F.l1_loss(x, y, reduction=self.reduction)", "x, y"),
     {"reduction": "sum"}, ("float32[3,4]", "float32[3,4]"), "reduction=self.reduction)", {}),
    ("softplus", module("beta=1.0, threshold=20.0", "self.act = nn.Softplus(beta=beta, threshold=threshold)",
                        "return self.act(x)"),
     {"beta": 2.0, "threshold": 1.0}, ("float32[60]:-6:6",), "beta=beta", {}),
    ("flatten-method", module("start=0", "self.start = start", "return x.flatten(self.start)"),
     {"start": 1}, ("float32[2,3,4]",), "start_dim=self.start", {}),
    ("sort-descending", module("desc=False", "self.desc = desc", "return x.sort(-1, descending=self.desc)[0]"),
     {"desc": True}, ("float32[3,4]",), "sort_values(", {}),
    ("div-rounding", module("rm=None", "self.rm = rm", "return x.div(y, rounding_mode=self.rm)", "x, y"),
     {"rm": "floor"}, ("float32[3,4]:-9:9", "float32[3,4]:1:3"), "div_rounding(", {}),
    ("norm-p", module("p=2", "self.p = p", "return x.norm(p=self.p)"),
     {"p": 1}, ("float32[3,4]",), "tensor_norm(", {}),
    ("norm-p-dim", module("p=2", "self.p = p", "return x.norm(self.p, dim=(0, 1))"),
     {"p": 1}, ("float32[3,4]",), "tensor_norm(", {}),
    ("logsumexp-keepdim", module("keep=False", "self.keep = keep", "return torch.logsumexp(x, 1, keepdim=self.keep)"),
     {"keep": True}, ("float32[3,4]",), "keepdims=self.keep", {}),
    ("mean-keepdim", module("keep=False", "self.keep = keep", "return x.mean(1, keepdim=self.keep)"),
     {"keep": True}, ("float32[3,4]",), "keepdims=self.keep", {}),
    ("stack-computed-dim", module("d=0", "self.conv = nn.Conv2d(3, 3, 1)\nself.d = d",
                                  "y = self.conv(x)\nreturn torch.stack([y, y * 2.0], dim=self.d)"),
     {"d": 2}, ("float32[2,3,4,5]",), "axis=self.d", {}),
    ("kaiming-mode-nonlinearity", module("mode='fan_in', nl='leaky_relu'",
                                         "self.layer = nn.Linear(300, 200)\n"
                                         "nn.init.kaiming_normal_(self.layer.weight, mode=mode, nonlinearity=nl)",
                                         "return self.layer.weight * 1.0", ""),
     {"mode": "fan_out", "nl": "tanh"}, (), "calculate_gain2(nl", {"compare": "stats"}),
    ("kaiming-slope", module("a=0.0", "self.layer = nn.Linear(300, 200)\n"
                                      "nn.init.kaiming_uniform_(self.layer.weight, a=a)",
                             "return self.layer.weight * 1.0", ""),
     {"a": 3.0}, (), "calculate_gain2(", {"compare": "stats"}),
    ("xavier-gain", module("gain=1.0", "self.layer = nn.Linear(300, 200)\n"
                                       "nn.init.xavier_normal_(self.layer.weight, gain=gain)",
                           "return self.layer.weight * 1.0", ""),
     {"gain": 3.0}, (), "float(gain) ** 2", {"compare": "stats"}),
]


@pytest.mark.parametrize("case", PARITY, ids=[c[0] for c in PARITY])
def test_decided_at_run_time(case, tmp_path):
    _, source, kwargs, specs, fragment, opts = case
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    assert result.todo_count == 0 and "TODO(torch2nnx)" not in result.code, result.code
    assert fragment in result.code, result.code
    rng = np.random.default_rng(0)
    inputs = [make_input(s, rng) for s in specs]
    compare = opts.get("compare", "allclose")
    run_parity(result, tmod, jmod, wmod, "M", inputs, kwargs=kwargs, compare=compare)
    if opts.get("train"):
        run_parity(result, tmod, jmod, wmod, "M", inputs, kwargs=kwargs, train=True)


# (id, source, the argument the diagnostic names)
TODO = [
    ("batchnorm-track-running-stats",
     module("t=True", "self.norm = nn.BatchNorm2d(3, track_running_stats=t)", "return self.norm(x)"),
     "track_running_stats=t"),
    ("instancenorm-track-running-stats",
     module("t=False", "self.norm = nn.InstanceNorm2d(3, track_running_stats=t)", "return self.norm(x)"),
     "track_running_stats=t"),
    ("convtranspose-groups", module("g=1", "self.conv = nn.ConvTranspose2d(4, 4, 3, groups=g)", "return self.conv(x)"),
     "groups=g"),
    ("maxpool-return-indices", module("r=False", "self.pool = nn.MaxPool2d(2, return_indices=r)", "return self.pool(x)"),
     "return_indices=r"),
    ("upsample-recompute", module("r=None", "self.up = nn.Upsample(scale_factor=2, recompute_scale_factor=r)",
                                  "return self.up(x)"),
     "recompute_scale_factor=r"),
    ("embedding-max-norm", module("m=None", "self.emb = nn.Embedding(10, 4, max_norm=m)", "return self.emb(x)"),
     "max_norm=m"),
]
# (nn.Parameter(t, requires_grad=flag) is decided at run time now: tests/test_layer_class_values.py)


@pytest.mark.parametrize("case", TODO, ids=[c[0] for c in TODO])
def test_marked_todo(case):
    _, source, arg = case
    result = torch2nnx.translate(source, "model.py", module_name="model_nnx")
    assert result.todo_count >= 1, result.code
    assert "TODO(torch2nnx): T2N002" in result.code, result.code
    messages = [d.format() for d in result.diagnostics if d.code == "T2N002"]
    assert any(f"{arg}: only a constant is supported" in m for m in messages), messages
    compile(result.code, "model_nnx.py", "exec")


def test_value_and_const():
    a = bind("x, mode='nearest', scale=None, *, flag=False", ["x"], {"mode": "self.mode", "scale": "2"})
    assert a.value("mode") is NOT_CONSTANT
    assert a.value("scale") == 2
    assert a.value("flag") is False  # absent: the signature's default
    assert a.value("other", absent=3) == 3  # a parameter this signature lacks
    with pytest.raises(KeyError):
        a.value("other")
    with pytest.raises(Unsupported, match="mode=self.mode: only a constant is supported"):
        a.const("mode")
    # a row that forgets to test for the sentinel fails loudly, never takes the default
    for misuse in (lambda v: v == "nearest", lambda v: v in (1, 2), lambda v: bool(v)):
        with pytest.raises(TypeError):
            misuse(a.value("mode"))


def test_rows_never_read_lit():
    """``Args.lit`` gives the default for a non-literal argument: rows use value/const."""
    rules = Path(__file__).resolve().parents[1] / "torch2nnx" / "rules"
    offenders = []
    for path in sorted(rules.glob("*.py")):
        if path.name == "base.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "lit":
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders
