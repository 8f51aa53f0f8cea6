"""Rows the example harness cannot drive alone (rules/float_model.py,
rules/process_queries.py): torch vs NNX, perturbed weights, eager and nnx.jit.

- ``fuse_conv_bn_eval`` in a ``fuse()`` method (timm's efficientvim): the
  convolution a method rebinds keeps its layout, and the folded kernel and bias
  give the unfused outputs, in both frameworks.
- ``nn.modules.batchnorm._BatchNorm`` as a base (a subclass defining
  ``_check_input_dim``) and in ``isinstance`` checks that choose a branch.
- torchvision's quantization-ready blocks in float: QuantStub / DeQuantStub
  around FloatFunctional's ops, outputs and input gradients.
- ``torch.distributed.get_rank`` / ``get_world_size`` against torch inside a
  one-process gloo group (torch refuses both without one).
"""

from __future__ import annotations

import textwrap

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from harness import assert_close, from_nnx_output, input_grads, perturb, run_parity, to_nnx_input, translate_files
from test_layout_forward import HEADER, rand

FUSE = """
from torch.nn.utils.fusion import fuse_conv_bn_eval


class ConvNorm(nn.Module):
    def __init__(self, cin, cout, norm=nn.BatchNorm2d):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm = norm(cout) if norm else None
        self.act = nn.ReLU()
        if self.norm is not None and isinstance(self.norm, nn.modules.batchnorm._BatchNorm):
            nn.init.constant_(self.norm.weight, 0.5)

    @torch.no_grad()
    def fuse(self):
        if isinstance(self.norm, nn.modules.batchnorm._BatchNorm):
            self.conv = fuse_conv_bn_eval(self.conv, self.norm)
            self.norm = None
        return self

    def forward(self, x):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return self.act(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = ConvNorm(3, 6)
        self.b = ConvNorm(6, 4)

    def fuse(self):
        self.a.fuse()
        self.b.fuse()

    def forward(self, x):
        return self.b(self.a(x))
"""


def _models(result, tmod, jmod, wmod, cls="Net"):
    torch.manual_seed(0)
    t = getattr(tmod, cls)()
    perturb(t, 0)
    j = getattr(jmod, cls)(rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(j, t.state_dict(), strict=True)
    t.eval()
    j.eval()
    return t, j


def _outputs(result, t, j, x, cls="Net", jit=False):
    perm = from_perm = None
    s = result.layout_of(cls)
    if s is not None:
        from harness import perm_of

        perm = perm_of(s.takes.get([p for p in s.params if p != "self"][0]))
        from_perm = perm_of(s.returns)
    with torch.no_grad():
        t_out = t(torch.from_numpy(x.copy())).numpy()
    xs = jnp.asarray(to_nnx_input(x, perm))
    j_out = nnx.jit(lambda m, v: m(v))(j, xs) if jit else j(xs)
    return t_out, from_nnx_output(np.asarray(j_out), from_perm)


def test_fuse_conv_bn_eval_in_a_fuse_method(tmp_path):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(FUSE), tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "fuse_conv_bn_eval(self.conv, self.norm)" in result.code
    x = rand(2, 3, 7, 6)
    t, j = _models(result, tmod, jmod, wmod)
    before_t, before_j = _outputs(result, t, j, x)
    assert_close(before_t, before_j)
    t.fuse()
    j.fuse()
    assert t.a.norm is None and j.a.norm is None
    for jit in (False, True):
        after_t, after_j = _outputs(result, t, j, x, jit=jit)
        assert_close(after_t, after_j)
        # folding keeps the eval-mode outputs (the fused kernel and bias are not the unfused ones)
        assert_close(before_j, after_j, what="fused vs unfused")
    assert j.a.conv.bias is not None


BATCHNORM_BASE = """
class AnyBatchNorm(nn.modules.batchnorm._BatchNorm):
    def __init__(self, num_features, momentum=0.1):
        super().__init__(num_features, momentum=momentum)

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError("expected at least 2D input")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.bn = AnyBatchNorm(5, momentum=0.2)
        self.other = nn.LayerNorm(5)

    def forward(self, x):
        y = self.bn(self.conv(x))
        if isinstance(self.other, nn.modules.batchnorm._BatchNorm):
            y = y * 100.0
        if isinstance(self.bn, nn.modules.batchnorm._BatchNorm):
            y = y + 1.0
        return y
"""


def test_batchnorm_base_class_subclassed_and_checked(tmp_path):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(BATCHNORM_BASE), tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    for train in (False, True):
        for jit in (False, True):
            run_parity(result, tmod, jmod, wmod, "Net", [rand(4, 3, 5, 6)], train=train, jit=jit)


QUANT_READY = """
from torch.ao.quantization import DeQuantStub, QuantStub


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = QuantStub()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 1)
        self.skip_add = nn.quantized.FloatFunctional()
        self.cat = nn.quantized.FloatFunctional()
        self.dequant = DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        y = self.skip_add.add_relu(self.conv1(x), x)
        y = self.cat.cat([y, self.skip_add.mul(self.conv2(y), x)], 1)
        return self.dequant(self.skip_add.add(y, self.cat.mul_scalar(y, 0.5)))
"""


def test_quantization_ready_block_in_float(tmp_path):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(QUANT_READY), tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    x = rand(2, 4, 5, 5)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Block", [x], jit=jit)
        t_grad, j_grad = input_grads(result, tmod, jmod, wmod, "Block", x, jit=jit)
        assert_close(t_grad, j_grad, what="input gradient")


RANKS = """
class Net(nn.Module):
    def forward(self, x):
        return x * torch.distributed.get_world_size() + torch.distributed.get_rank()
"""


@pytest.fixture
def one_process_group(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_rank_and_world_size_of_one_process(tmp_path, one_process_group):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(RANKS), tmp_path)
    assert "jax.process_count()" in result.code and "jax.process_index()" in result.code
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3) + 0.5], jit=jit)


FUSE_MODEL = """
from torch.ao.quantization import fuse_modules, fuse_modules_qat


class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.relu = nn.ReLU()
        self.head = nn.Sequential(nn.Conv2d(6, 4, 1), nn.BatchNorm2d(4))

    def fuse_model(self, is_qat=False):
        fuse = fuse_modules_qat if is_qat else fuse_modules
        fuse(self, [["conv", "bn", "relu"], ["head.0", "head.1"]], inplace=True)

    def forward(self, x):
        return self.head(self.relu(self.bn(self.conv(x))))
"""


@pytest.mark.parametrize("is_qat", [False, True])
def test_fuse_modules_in_a_fuse_model_method(tmp_path, is_qat):
    """torchvision's quantizable models' fuse_model: groups given by attribute paths
    (a Sequential's index too), fused in place; eval folds, QAT keeps the BatchNorm."""
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(FUSE_MODEL), tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    x = rand(2, 3, 5, 6)
    t, j = _models(result, tmod, jmod, wmod, "Stem")
    before_t, before_j = _outputs(result, t, j, x, "Stem")
    assert_close(before_t, before_j)
    t.fuse_model(is_qat)
    j.fuse_model(is_qat)
    for jit in (False, True):
        after_t, after_j = _outputs(result, t, j, x, "Stem", jit=jit)
        assert_close(after_t, after_j)
        assert_close(before_j, after_j, what="fused vs unfused")
    # eval folds the statistics into the convolution; QAT keeps the BatchNorm in the sequence
    assert isinstance(j.conv, nnx.Sequential) and len(j.conv.layers) == (3 if is_qat else 2)
