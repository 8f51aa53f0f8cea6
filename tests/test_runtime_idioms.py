"""torch idioms that run in eval mode but broke under nnx.jit or at run time
(timm corpus): a slot holding either a stateless layer or a plain function,
``self.forward = self.<method>`` chosen in ``__init__``.
Each model is compared with torch eagerly and under ``nnx.jit``."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def parity(source, tmp_path, cls, inputs, kwargs=None):
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(source), tmp_path)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, cls, inputs, kwargs=kwargs, jit=jit)
    return result


POOL_SLOT = """
    class Down(nn.Module):
        def __init__(self, c, stride):
            super().__init__()
            if stride > 1:
                pool_fn = nn.AvgPool2d if stride == 2 else nn.MaxPool2d
                self.pool = pool_fn(2, stride, ceil_mode=True)
            else:
                self.pool = nn.Identity()
            self.conv = nn.Conv2d(c, c, 1)

        def forward(self, x):
            return self.conv(self.pool(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Down(4, 2)
            self.b = Down(4, 1)

        def forward(self, x):
            return self.b(self.a(x))
"""


def test_stateless_layer_in_a_slot_also_given_a_function_is_static(tmp_path):
    """``self.pool = pool_fn(...)`` (a stateless layer, a function in NNX) on one path and
    ``nn.Identity()`` on the other: the slot holds data only when the value does, so
    ``nnx.jit`` does not take the function for an array (timm's NF-Nets)."""
    parity(POOL_SLOT, tmp_path, "Net", [rand(2, 4, 9, 9)])


CHOSEN_FORWARD = """
    class PartialConv(nn.Module):
        def __init__(self, dim, n_div, forward):
            super().__init__()
            self.dim_conv3 = dim // n_div
            self.dim_untouched = dim - self.dim_conv3
            self.partial_conv3 = nn.Conv2d(self.dim_conv3, self.dim_conv3, 3, 1, 1, bias=False)
            if forward == "slicing":
                self.forward = self.forward_slicing
            elif forward == "split_cat":
                self.forward = self.forward_split_cat
            else:
                raise NotImplementedError

        def forward_slicing(self, x):
            x = x.clone()
            x[:, :self.dim_conv3, :, :] = self.partial_conv3(x[:, :self.dim_conv3, :, :])
            return x

        def forward_split_cat(self, x):
            x1, x2 = torch.split(x, [self.dim_conv3, self.dim_untouched], dim=1)
            x1 = self.partial_conv3(x1)
            return torch.cat((x1, x2), 1)


    class Net(nn.Module):
        def __init__(self, kind):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 1)
            self.mix = PartialConv(8, 4, kind)
            self.head = nn.Conv2d(8, 5, 1)

        def forward(self, x):
            return self.head(self.mix(self.stem(x)))
"""


def test_forward_chosen_in_init_dispatches(tmp_path):
    """``self.forward = self.forward_slicing`` in ``__init__`` (timm's FasterNet): the
    translated class is callable and runs the chosen method, eagerly and under
    ``nnx.jit``, for each choice."""
    result, tmod, jmod, wmod = translate_files(HEADER + textwrap.dedent(CHOSEN_FORWARD), tmp_path)
    for kind in ("slicing", "split_cat"):
        for jit in (False, True):
            run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 6, 6)], kwargs={"kind": kind}, jit=jit)


def test_forward_chosen_in_init_trains_the_module_at_hand(tmp_path):
    """The choice is a name, not a bound method: nnx.grad reaches the parameters of
    the chosen method's module (a bound method kept as an attribute gives zeros)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    _, _, jmod, _ = translate_files(HEADER + textwrap.dedent(CHOSEN_FORWARD), tmp_path)
    model = jmod.Net("split_cat", rngs=nnx.Rngs(0))
    grads = nnx.grad(lambda m, x: m(x).sum())(model, jnp.asarray(rand(2, 6, 6, 3)))
    g = grads["mix"]["partial_conv3"]["kernel"]
    assert float(jnp.abs(jax.tree.leaves(g)[0]).sum()) > 0


DEVICE_GUARDS = """
    class LinearAttn(nn.Module):
        def __init__(self, c=4):
            super().__init__()
            self.qkv = nn.Conv2d(c, 3 * c, 1)
            self.proj = nn.Conv2d(c, c, 1)

        def _attn(self, q, k, v):
            kv = k.transpose(-1, -2) @ v
            return (q @ kv) / (q @ k.transpose(-1, -2).sum(-1, keepdim=True) + 1e-3)

        def forward(self, x):
            B, C, H, W = x.shape
            q, k, v = self.qkv(x).reshape(B, 3, C, H * W).transpose(-1, -2).unbind(1)
            q, k = F.relu(q), F.relu(k)
            if not torch.jit.is_scripting() and v.device.type != 'meta':
                with torch.autocast(device_type=v.device.type, enabled=False):
                    out = self._attn(q, k, v)
            else:
                out = self._attn(q, k, v) * 0.0
            device = x.device
            if device.type == 'cuda' or str(device).startswith('cuda'):
                out = out * 0.0  # a device-specific path torch on CPU never takes
            out = out.transpose(-1, -2).reshape(B, C, H, W)
            return self.proj(out)
"""


def test_device_reads_and_disabled_autocast(tmp_path):
    """``v.device.type != 'meta'`` guarding ``with torch.autocast(...,
    enabled=False)`` (timm's EfficientViT LiteMLA): ``x.device`` reads as
    torch's CPU device (it was None, and ``None.type`` raised), and an autocast
    keeping full precision is dropped, its body kept. Branches torch on CPU
    does not take would zero the output."""
    result = parity(DEVICE_GUARDS, tmp_path, "LinearAttn", [rand(2, 4, 5, 6)])
    assert "with torch.autocast" not in result.code, result.code
    assert result.todo_count == 0, result.code
    assert 'TorchDevice().type != "meta"' in result.code, result.code


def test_enabled_autocast_is_marked(tmp_path):
    """Mixed precision (an enabled autocast) would change the numbers: kept
    with a TODO, never dropped silently."""
    from harness import translate_files as tf

    result, *_ = tf(HEADER + textwrap.dedent("""
        class M(nn.Module):
            def forward(self, x):
                with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
                    return x * 2
    """), tmp_path)
    assert "TODO(torch2nnx): T2N001" in result.code, result.code
    assert "mixed precision" in result.code, result.code
