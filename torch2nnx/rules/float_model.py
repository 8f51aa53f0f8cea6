"""torch's quantization-ready layers as a float model computes them: the
stubs that mark where int8 would begin and end are the identity, FloatFunctional's
ops are the plain ops (torchvision's ``models/quantization`` run in float), and
folding BatchNorm into a convolution (``fuse_conv_bn_eval``) folds it.

The quantization workflow itself (observers, qconfigs, prepare/convert, int8
engines) builds int8 models for torch's backends: no row (README)."""

from .base import ELEMENTWISE, OTHER, Example, Layout, Rule
from .norm import BN_NOSTATS_WEIGHTS, BN_WEIGHTS, _BN_ATTRS, _BN_INIT, _BN_SIG, _batchnorm


def _identity(a, ctx):
    return "(lambda x: x)"


def _float_functional(a, ctx):
    return f"{ctx.helper('FloatFunctional')}()"


def _fuse_modules(qat):
    def build(a, ctx):
        parts = [a.src("model"), a.src("modules_to_fuse")] + (["is_qat=True"] if qat else [])
        parts += [f"{p}={a.src(p)}" for p in ("inplace", "fuser_func", "fuse_custom_config_dict") if a.given(p)]
        return f"{ctx.helper('fuse_modules')}({', '.join(parts)})"
    return build


def _fuse(a, ctx):
    parts = [a.src("conv"), a.src("bn")]
    if a.given("transpose"):
        parts.append(f"transpose={a.src('transpose')}")
    return f"{ctx.helper('fuse_conv_bn_eval')}({', '.join(parts)})"


X4 = ("float32[2,4]",)
PAIR = ("float32[2,3,5,5]", "float32[2,3,5,5]")
_NOTE_STUB = "the identity in a float model (where torch's int8 model would quantize)"
_NOTE_FF = "a float model's ops: add, add_scalar, mul, mul_scalar, cat, add_relu, matmul"


def _stub(name, params):
    return Rule(name, params, _identity, layout=ELEMENTWISE, layer=True, note=_NOTE_STUB,
                examples=(Example(f"{name}()", X4),))


def _ff(name):
    short = name
    return Rule(name, "", _float_functional, layout=Layout("plain", tensors=()), layer=True, note=_NOTE_FF,
                examples=(Example(f"{short}()", PAIR, call="self.layer.add(x, y)", expect="FloatFunctional()"),
                          Example(f"{short}()", PAIR, call="self.layer.add_relu(x, y) * self.layer.mul(x, 2.0)"),
                          Example(f"{short}()", PAIR, call="self.layer.cat([x, y], 1) + self.layer.add_scalar(x, 1.0)"
                                                          ".repeat(1, 2, 1, 1)"),
                          Example(f"{short}()", ("float32[2,3,4]", "float32[2,4,5]"),
                                  call="self.layer.matmul(x, y) * self.layer.mul_scalar(y, 0.5).sum()")))


_LAYERS = ("self.conv = nn.Conv2d(3, 4, 3, padding=1, bias={bias})", "self.bn = nn.BatchNorm2d(4, affine={affine})")

_FUSE_SIG = "model, modules_to_fuse, inplace=False, fuser_func=None, fuse_custom_config_dict=None"
_LINEAR_BN = ("self.seq = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU())",)

RULES = [
    _stub("torch.ao.quantization.QuantStub", "qconfig=None"),
    _stub("torch.ao.quantization.DeQuantStub", "qconfig=None"),
    _stub("torch.quantization.QuantStub", "qconfig=None"),
    _stub("torch.quantization.DeQuantStub", "qconfig=None"),
    _ff("torch.nn.quantized.FloatFunctional"),
    _ff("torch.ao.nn.quantized.FloatFunctional"),
    # torch's BatchNorm base class: in isinstance checks, and as a base (a subclass
    # defining _check_input_dim is a BatchNorm of any rank, channels-last)
    Rule("torch.nn._BatchNorm", _BN_SIG, _batchnorm, attrs=_BN_ATTRS, init_attrs=_BN_INIT, layout=Layout("channel"),
         layer=True, stateful=True, weights=(BN_WEIGHTS, BN_NOSTATS_WEIGHTS),
         note="an abstract base in torch: built, it is a BatchNorm of any rank",
         examples=(Example("nn.modules.batchnorm._BatchNorm(6)", ("float32[8,6]",),
                           call="x * float(isinstance(self.layer, nn.modules.batchnorm._BatchNorm)) "
                                "+ self.layer.eps * 1000.0", expect="isinstance(self.layer, nnx.BatchNorm)"),)),
    # fusing submodules (torchvision's fuse_model): eval folds BatchNorm, QAT keeps it
    Rule("torch.ao.quantization.fuse_modules", _FUSE_SIG, _fuse_modules(False), layout=OTHER,
         as_value=lambda ctx: ctx.helper("fuse_modules"),
         note="eval: each group computed by its first module, BatchNorm folded; the others the identity",
         examples=(Example("torch.ao.quantization.fuse_modules(self.seq, [['0', '1']])(x)", ("float32[6,4]",),
                           init=_LINEAR_BN, expect="fuse_modules(self.seq, [['0', '1']])"),
                   Example("torch.ao.quantization.fuse_modules(self.seq, ['0', '1'])(x) * 2.0", ("float32[6,4]",),
                           init=_LINEAR_BN))),
    Rule("torch.ao.quantization.fuse_modules_qat", _FUSE_SIG, _fuse_modules(True), layout=OTHER,
         as_value=lambda ctx: f"functools.partial({ctx.helper('fuse_modules')}, is_qat=True)",
         note="QAT: each group computed by its first module in sequence (BatchNorm kept); the others the identity",
         examples=(Example("torch.ao.quantization.fuse_modules_qat(self.seq, [['0', '1']])(x)", ("float32[6,4]",),
                           init=_LINEAR_BN, train=True, expect="is_qat=True"),)),
    Rule("torch.nn.utils.fusion.fuse_conv_bn_eval", "conv, bn, transpose=False", _fuse, layout=OTHER,
         note="eval mode: the running statistics folded into a copy of the convolution",
         # the folded bias here; the folded kernel's outputs in tests/test_float_model_rows.py (a
         # layer a call returns has no layout the example harness can follow)
         examples=(Example("torch.nn.utils.fusion.fuse_conv_bn_eval(self.conv, self.bn).bias + x", ("float32[4]",),
                           init=tuple(s.format(bias=False, affine=True) for s in _LAYERS),
                           expect="fuse_conv_bn_eval(self.conv, self.bn)"),
                   Example("torch.nn.utils.fusion.fuse_conv_bn_eval(self.conv, self.bn).bias + x", ("float32[4]",),
                           init=tuple(s.format(bias=True, affine=False) for s in _LAYERS)))),
]
