"""torch.autograd.Function subclasses (autograd_functions.py, runtime
autograd_functions.py): the class keeps its forward and backward and runs as a
``jax.custom_vjp``, so a model's gradients are the hand-written backward's, as
in torch. ``Cls.apply(...)`` is handed torch order and its result's layout is
forward's (before, an unknown value: efficientnet_pytorch's memory-efficient
Swish result was broadcast against a channels-last squeeze-excite map)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from harness import from_nnx_output, perturb, run_parity, to_nnx_input, translate_files
from torch2nnx.rules.check import perm_of

torch.set_num_threads(1)

SOURCE = "import math\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n\n\n" + textwrap.dedent('''
    class SwishImplementation(torch.autograd.Function):
        @staticmethod
        def forward(ctx, i):
            result = i * torch.sigmoid(i)
            ctx.save_for_backward(i)
            return result

        @staticmethod
        def backward(ctx, grad_output):
            i = ctx.saved_tensors[0]
            sigmoid_i = torch.sigmoid(i)
            return grad_output * (sigmoid_i * (1 + i * (1 - sigmoid_i)))


    class MemoryEfficientSwish(nn.Module):
        def forward(self, x):
            return SwishImplementation.apply(x)


    class Binarize(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return math.sqrt(2.0 / (x.shape[1] * x.shape[2] * x.shape[3])) * x.sign()

        @staticmethod
        def backward(ctx, dy):
            return dy


    class ChannelScale(torch.autograd.Function):
        """Scales channels by their mean; backward passes gradients straight through, scaled."""

        @staticmethod
        def forward(ctx, x, k):
            ctx.k = k
            return x * x.mean(dim=(2, 3), keepdim=True) * k

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None


    class SEBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.reduce = nn.Conv2d(c, 4, 1)
            self.expand = nn.Conv2d(4, c, 1)
            self.act = MemoryEfficientSwish()
            self.proj = nn.Conv2d(c, c, 1)

        def forward(self, x):
            x = self.act(self.conv(x))
            s = F.adaptive_avg_pool2d(x, 1)
            s = self.expand(self.act(self.reduce(s)))
            x = torch.sigmoid(s) * x
            x = ChannelScale.apply(x, 0.5)
            w = Binarize.apply(self.proj.weight)
            return F.conv2d(x, w, self.proj.bias)
''')


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translate_files(SOURCE, tmp_path_factory.mktemp("agf"))


def test_functions_keep_forward_and_backward(translated):
    result = translated[0]
    code = result.code
    assert result.todo_count == 0, code
    assert "class SwishImplementation(TorchFunction):" in code and "def backward(ctx, grad_output):" in code, code
    assert "return grad_output * (sigmoid_i * (1 + i * (1 - sigmoid_i)))" in code, code
    assert "class TorchFunction" in code and "jax.custom_vjp" in code, code
    assert "import torch" not in code, code


@pytest.mark.parametrize("jit", [False, True])
def test_outputs_match_torch(translated, jit):
    run_parity(*translated, "SEBlock", [rand(2, 6, 5, 5)], kwargs={"c": 6}, jit=jit)


def _nnx_grads(j_model, x, g):
    import jax.numpy as jnp
    from flax import nnx

    def loss(m, x):
        return jnp.sum(m(x) * g)

    return nnx.grad(loss, argnums=(0, 1))(j_model, x)


def test_gradients_are_the_hand_written_backward(translated):
    """Binarize's backward passes gradients straight through sign() and
    ChannelScale's leaves out its mean's: parameter and input gradients match
    torch's only if both backward methods are the ones used."""
    import jax.numpy as jnp
    from flax import nnx

    result, tmod, jmod, wmod = translated
    t_model = tmod.SEBlock(6)
    perturb(t_model, 0)
    t_model.eval()
    j_model = jmod.SEBlock(6, rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
    j_model.eval()
    x, g = rand(2, 6, 5, 5), rand(2, 6, 5, 5, seed=1)
    xt = torch.from_numpy(x).requires_grad_(True)
    (t_model(xt) * torch.from_numpy(g)).sum().backward()
    summary = result.layout_of("SEBlock")
    p_in, p_out = perm_of(summary.takes["x"]), perm_of(summary.returns)
    t_grads = {k: p.grad.numpy() for k, p in t_model.named_parameters()}
    # the straight-through estimator: autodiff of sign() alone would give zeros
    assert np.abs(t_grads["proj.weight"]).max() > 1e-3
    path_of = {id(v): path for path, v in nnx.iter_graph(j_model) if isinstance(v, nnx.Param)}
    for grad_fn in (_nnx_grads, nnx.jit(_nnx_grads)):
        grads, gx = grad_fn(j_model, jnp.asarray(to_nnx_input(x, p_in)), jnp.asarray(to_nnx_input(g, p_out)))
        np.testing.assert_allclose(from_nnx_output(np.asarray(gx), p_in), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
        flat = dict(nnx.to_flat_state(grads))
        checked = 0
        for key, var, transform, _ in wmod.torch_key_map(j_model):
            want = t_grads[key] if transform is None else transform(t_grads[key])
            got = flat[path_of[id(var)]]
            got = got.get_value() if hasattr(got, "get_value") else got
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4, err_msg=key)
            checked += 1
        assert checked == len(t_grads) == 8


def test_runtime_function_arguments():
    """Non-array arguments are constants of the call; what backward returns for
    them (None) is dropped; integer arrays take no gradient; a tuple result gets
    a tuple of cotangents."""
    import jax
    import jax.numpy as jnp

    from torch2nnx.runtime.autograd_functions import TorchFunction

    class Pick(TorchFunction):
        @staticmethod
        def forward(ctx, x, index, scale):
            ctx.save_for_backward(index)
            ctx.scale = scale
            return x[index] * scale, x.sum()

        @staticmethod
        def backward(ctx, g_pick, g_sum):
            (index,) = ctx.saved_tensors
            return jnp.zeros(4).at[index].add(g_pick * ctx.scale) + g_sum + 100.0, None, None

    x, index = jnp.arange(4.0), jnp.array([1, 3])

    def loss(x):
        a, b = Pick.apply(x, index, 2.0)
        return a.sum() + 3 * b

    for fn in (jax.grad(loss), jax.jit(jax.grad(loss))):
        np.testing.assert_allclose(np.asarray(fn(x)), [103.0, 105.0, 103.0, 105.0])


def test_base_aliased_where_the_file_binds_its_name(tmp_path):
    """A file that binds ``TorchFunction`` itself keeps its binding; the
    translated Function reaches the runtime base under an alias."""
    source = SOURCE.replace("class SEBlock(", "TorchFunction = 'the file\\'s own'\n\n\nclass SEBlock(")
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    assert "class SwishImplementation(_t2n_TorchFunction):" in result.code, result.code
    assert jmod.TorchFunction == "the file's own"
    run_parity(result, tmod, jmod, wmod, "SEBlock", [rand(2, 6, 5, 5)], kwargs={"c": 6})
