"""torch's attributes and in-place methods on what translated code holds:
a layer's weight read in torch terms off the NNX layer that keeps it in another
order (kernel_layout.py), in-place methods on a helper's parameter that may be a
Variable handed in (an init function writes into it)."""

from __future__ import annotations

import textwrap

import numpy as np

from harness import run_parity, translate_files

HEADER = "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


WEIGHT_READS = HEADER + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 6)
            self.conv = nn.Conv2d(4, 5, 3)
            self.n_out = self.fc.weight.shape[0]  # torch's (out, in): 6
            self.k = self.conv.weight.shape[2]  # (O, I, kh, kw): 3

        def forward(self, x, img):
            w = self.fc.weight
            y = F.linear(x, w[: self.n_out - 2], self.fc.bias[: self.n_out - 2])
            z = x @ w.t() + w.sum(1)
            r = w[1:3, :4].mean(0)
            img = F.pad(img, (self.k // 2,) * 4)
            c = self.conv(img)
            return y, z, r, c, self.conv.weight[:, 1].sum((1, 2))
""")


def test_layer_weights_read_in_torch_order(tmp_path):
    """``fc.weight`` is NNX's kernel (in, out), a Conv's (kh, kw, I, O): sizes,
    slices, reductions and F.linear read torch's axes off it."""
    result, tmod, jmod, wmod = translate_files(WEIGHT_READS, tmp_path)
    assert result.todo_count == 0, result.code
    assert "self.fc.kernel.shape[1]" in result.code and "self.conv.kernel.shape[0]" in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8), rand(2, 4, 7, 7, seed=1)], jit=True)


INPLACE_HELPERS = HEADER + textwrap.dedent("""
    def _fill_(tensor, value, scale):
        tensor.mul_(0.0)
        tensor.add_(value)
        tensor.mul_(scale)
        return tensor


    def fill_(tensor, value, scale=1.0):
        with torch.no_grad():
            return _fill_(tensor, value, scale)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 3)
            # not in the state_dict: what the helper writes is what the model uses
            self.register_buffer("offset", torch.zeros(3), persistent=False)
            fill_(self.offset, 0.5, scale=3.0)

        def forward(self, x):
            return self.fc(x) + self.offset
""")


def test_inplace_methods_on_a_helpers_parameter_write_into_the_variable(tmp_path):
    """``tensor.mul_(0)`` in a function handed a buffer writes into it (the
    translation keeps inplace_set, a parameter may be a Variable), as torch does."""
    result, tmod, jmod, wmod = translate_files(INPLACE_HELPERS, tmp_path)
    assert result.todo_count == 0, result.code
    assert "tensor = inplace_set(tensor, (tensor * 0.0))" in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)], jit=True)


FANS = HEADER + textwrap.dedent("""
    from torch.nn.init import _calculate_fan_in_and_fan_out


    def fans(w):
        return _calculate_fan_in_and_fan_out(w)


    def lecun_normal_(tensor):
        fan_in, _ = _calculate_fan_in_and_fan_out(tensor)
        with torch.no_grad():
            tensor.normal_(0.0, 1.0 / math.sqrt(fan_in))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 3)
            self.conv = nn.Conv2d(4, 6, (3, 2))
            lecun_normal_(self.fc.weight)
            fan_in, fan_out = _calculate_fan_in_and_fan_out(self.fc.weight)
            c_in, c_out = fans(self.conv.weight)
            # not in the state_dict: computed from torch's fans at build time
            self.register_buffer("sizes", torch.tensor([fan_in, fan_out, c_in, c_out], dtype=torch.float32),
                                 persistent=False)

        def forward(self, x):
            return self.fc(x).sum(-1, keepdim=True) + self.sizes
""")


def test_fans_of_a_weight_read_in_torch_order(tmp_path):
    """torch's _calculate_fan_in_and_fan_out on a Linear's or a Conv's weight, read
    where the weight is known and in a helper it is handed to (to an init helper
    called for its effect the Variable goes on, marked with torch's order; to a
    function whose value is used, the kernel in torch's order), gives torch's fans."""
    result, tmod, jmod, wmod = translate_files(FANS, tmp_path)
    assert result.todo_count == 0, result.code
    assert "torch_weight(self.fc.kernel, (1, 0))" in result.code
    assert "torch_array(self.conv.kernel, (2, 3, 1, 0))" in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)])


REGISTER = HEADER + textwrap.dedent("""
    class Dct(nn.Module):
        def __init__(self, n, bias=False):
            super().__init__()
            self.register_buffer("weights", torch.linspace(-1.0, 1.0, n * n).reshape(n, n))
            if bias:
                self.register_parameter("bias", nn.Parameter(torch.zeros(n)))
            else:
                self.register_parameter("bias", None)

        def forward(self, x):
            return F.linear(x, self.weights, self.bias)


    class Norm(nn.Module):
        def __init__(self, n, affine=True):
            super().__init__()
            self.n = n
            self._make_params(affine)
            self._init_buffers()

        def _make_params(self, affine):
            if affine:
                self.register_parameter("weight", nn.Parameter(torch.ones(self.n)))
            else:
                self.register_parameter("weight", None)

        def _init_buffers(self):
            self.register_buffer("shift", torch.arange(self.n, dtype=torch.float32) / 10.0, persistent=False)

        def forward(self, x):
            x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) + self.shift
            return x * self.weight if self.weight is not None else x


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Dct(6)
            self.b = Dct(6, bias=True)
            self.n1 = Norm(6)
            self.n2 = Norm(6, affine=False)

        def forward(self, x):
            return self.n2(self.n1(self.b(self.a(x))))
""")


def test_register_parameter_and_buffers_outside_init(tmp_path):
    """``register_parameter(name, None)`` leaves an empty slot (F.linear with that
    bias adds nothing); ``register_parameter``/``register_buffer`` in a helper
    method ``__init__`` calls set attributes holding the Variable, as torch does."""
    result, tmod, jmod, wmod = translate_files(REGISTER, tmp_path)
    assert result.todo_count == 0, result.code
    assert 'self.bias = nnx.data(None)' in result.code
    assert 'self.shift = NonPersistentBuffer(' in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 6)], jit=True)


NONE_THEN_LAYER = HEADER + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, pool=True):
            super().__init__()
            self.proj = nn.Conv2d(3, 4, 1)
            self.pool_q, self.pool_k = None, None
            if pool:
                self.pool_q = nn.Conv2d(4, 4, 3, padding=1, groups=4)
                self.pool_k = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4)

        def forward(self, x):
            x = self.proj(x)
            q = self.pool_q(x) if self.pool_q is not None else x
            k = self.pool_k(x) if self.pool_k is not None else x
            return q.mean((2, 3)) + k.mean((2, 3))
""")


def test_attributes_set_none_in_a_tuple_then_layers(tmp_path):
    """``self.a, self.b = None, None`` then layers: each slot is nnx.data(None)
    (flax refuses a module on an attribute first set to a static None)."""
    result, tmod, jmod, wmod = translate_files(NONE_THEN_LAYER, tmp_path)
    assert result.todo_count == 0, result.code
    assert "self.pool_q, self.pool_k = nnx.data(None), nnx.data(None)" in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 8, 8)], jit=True)


DATA_WRITES = HEADER + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, k=3):
            super().__init__()
            self.v = nn.Linear(4, 4, bias=False)
            self.pos = nn.Linear(3, 4)
            self.register_buffer("table", torch.zeros(k * k, 3), persistent=False)
            self.v.weight.data.copy_(torch.eye(4))
            for h1 in range(k):
                for h2 in range(k):
                    p = h1 + k * h2
                    self.table[p, 2] = -1.0
                    self.table[p, 1] = 2.0 * (h1 - 1)
                    self.table[p, 0] += 2.0 * (h2 - 1)
            self.table.data *= 0.5
            self.pos.weight.data[1, 0] = 3.0

        def forward(self, x):
            return self.v(x) + self.table.sum() + self.pos(x[..., :3])
""")


def test_item_and_data_writes_land_in_the_variable(tmp_path):
    """``buf[i, j] = v``, ``buf[i] += v``, ``buf.data *= s`` on a module's buffer
    write into its Variable (the attribute stays a Variable, holders see it)."""
    result, tmod, jmod, wmod = translate_files(DATA_WRITES, tmp_path)
    assert result.todo_count == 0, result.code
    assert "self.table = inplace_set(self.table, self.table * (0.5))" in result.code
    assert "jnp.asarray(self.pos.kernel).at[0, 1].set(3.0)" in result.code  # torch's [1, 0] on (in, out)
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 4)], jit=True)
    from flax import nnx
    m = jmod.Net(rngs=nnx.Rngs(0))
    assert isinstance(m.table, nnx.Variable) and float(m.table[...].sum()) == float(tmod.Net().table.sum())


UNTYPED = HEADER + textwrap.dedent("""
    class Attn(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            return self.proj(x)


    class Block(nn.Module):
        def __init__(self, dim, norm_layer=nn.LayerNorm):
            super().__init__()
            self.norm = norm_layer(dim)
            self.attn = Attn(dim)
            # a layer built by a factory: its weight read in torch's terms
            self.register_buffer("bias0", torch.zeros(dim, dtype=self.norm.weight.dtype), persistent=False)

        def forward(self, x):
            return x + self.attn(self.norm(x)) + self.bias0


    def _init_weights(module: nn.Module, name: str = "") -> None:
        if isinstance(module, nn.Linear) or ("head" in name and isinstance(module, nn.Conv2d)):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)


    class Net(nn.Module):
        def __init__(self, dim=6, depth=2, block_fn=Block):
            super().__init__()
            self.blocks = nn.ModuleList([block_fn(dim) for _ in range(depth)])
            self.head = nn.Linear(dim, 3)
            for n, m in self.named_modules():
                _init_weights(m, n)
            self.fix_init_weight()

        def fix_init_weight(self):
            def rescale(param, layer_id):
                param.div_(math.sqrt(2.0 * layer_id))

            with torch.no_grad():
                for layer_id, layer in enumerate(self.blocks):
                    rescale(layer.attn.proj.weight, layer_id + 1)
                    layer.norm.weight.mul_(2.0)

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return self.head(x)
""")


def test_torch_parameters_of_layers_the_analysis_cannot_type(tmp_path):
    """A layer built by a factory or reached through a list of blocks built by one:
    ``layer.attn.proj.weight`` / ``self.norm.weight`` read the NNX layer's attribute
    at run time (its kernel or scale); a Linear-or-Conv narrowing reads the kernel."""
    result, tmod, jmod, wmod = translate_files(UNTYPED, tmp_path)
    assert result.todo_count == 0, result.code
    # the blocks' class is known through the comprehension building them (block_fn=Block);
    # their norm, built by a factory, is not
    assert "torch_weight(layer.attn.proj.kernel, (1, 0))" in result.code
    assert 'torch_layer_attr(layer.norm, "weight")' in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 6)], jit=True)


KERNEL_WRITES = HEADER + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, dim=4, k=2):
            super().__init__()
            self.dim = dim
            self.v = nn.Linear(dim, dim, bias=False)
            self.pos_proj = nn.Linear(3, 4)
            self.v.weight.data.copy_(torch.arange(16.0).reshape(4, 4))
            for h1 in range(k):
                for h2 in range(k):
                    position = h1 + k * h2
                    self.pos_proj.weight.data[position, 2] = -1
                    self.pos_proj.weight.data[position, 1] = 2 * h1
            self.pos_proj.weight.data *= 0.5

        def forward(self, x):
            return self.v(x) + self.pos_proj(x[..., :3])
""")


def test_writes_into_a_kernel_in_torch_order(tmp_path):
    """``w.data.copy_(t)`` and ``w.data[i, j] = v`` (a computed index) on a Linear's
    weight land in NNX's kernel at torch's places: the kernel equals torch's weight
    transposed right after construction, before any weights are ported."""
    from flax import nnx

    result, tmod, jmod, wmod = translate_files(KERNEL_WRITES, tmp_path)
    assert result.todo_count == 0, result.code
    assert "inplace_set_view(" in result.code
    t, j = tmod.Net(), jmod.Net(rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(np.asarray(j.v.kernel[...]), t.v.weight.detach().numpy().T)
    np.testing.assert_array_equal(np.asarray(j.pos_proj.kernel[...])[1:, :], t.pos_proj.weight.detach().numpy().T[1:, :])
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 4)], jit=True)


GROUP_NORM_SUBCLASS = HEADER + textwrap.dedent("""
    class GroupNorm(nn.GroupNorm):
        def __init__(self, num_channels, num_groups=2, eps=1e-5):
            super().__init__(num_groups, num_channels, eps=eps)
            self.groups = num_groups

        def forward(self, x):
            return F.group_norm(x, self.groups, self.weight, self.bias, self.eps)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3)
            self.norm = GroupNorm(6)

        def forward(self, x):
            return self.norm(self.conv(x))
""")


def test_group_norm_in_a_subclass_of_group_norm(tmp_path):
    """F.group_norm inside a GroupNorm subclass's forward normalises the channel axis
    its callers hand it (channels-last), not torch's axis 1."""
    result, tmod, jmod, wmod = translate_files(GROUP_NORM_SUBCLASS, tmp_path)
    assert result.todo_count == 0, result.code
    assert "axis=-1" in result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 7, 7)], jit=True)


HYPER_READS = HEADER + textwrap.dedent("""
    class ScaledConv2d(nn.Conv2d):
        def forward(self, x):
            return super().forward(x) * 0.5


    class SplitConv(nn.Module):
        def __init__(self, cin, cout, k, stride=1, dilation=1, groups=1):
            super().__init__()
            self.in_channels = cin
            self.out_channels = cout
            self.stride = (stride, stride)
            self.dilation = (dilation, dilation)
            self.groups = groups
            self.kernel_size = (k, k)
            self.a = nn.Conv2d(cin, cout // 2, k, stride, dilation * (k // 2), dilation, groups)
            self.b = nn.Conv2d(cin, cout - cout // 2, k, stride, dilation * (k // 2), dilation, groups)

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x)], 1)


    def make_conv(cin, cout, k, stride=1, dilation=1, groups=1, kind="conv"):
        if kind == "split":
            return SplitConv(cin, cout, k, stride, dilation, groups)
        if kind == "conv":
            return nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k // 2), dilation=dilation, groups=groups)
        return ScaledConv2d(cin, cout, k, stride=stride, padding=dilation * (k // 2), dilation=dilation, groups=groups)


    class ConvBn(nn.Module):
        def __init__(self, cin, cout, k, stride=1, dilation=1, groups=1, kind="conv"):
            super().__init__()
            self.conv = make_conv(cin, cout, k, stride, dilation, groups, kind)
            self.bn = nn.BatchNorm2d(self.conv.out_channels, eps=1e-3)

        @property
        def out_channels(self):
            return self.conv.out_channels

        def forward(self, x):
            return self.bn(self.conv(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = ConvBn(3, 8, 3, stride=2, dilation=2)
            self.s = ConvBn(8, 8, 1, kind="split")
            conv = self.a.conv
            # torch's hyperparameters read off a layer whose type the translator cannot tell
            self.b = ConvBn(self.a.out_channels, conv.out_channels * 2, conv.kernel_size[1],
                            stride=conv.stride[0] // 2, dilation=conv.dilation[1] - 1, groups=conv.groups * 2,
                            kind="scaled")
            self.head = nn.Linear(self.b.conv.in_channels * 2 + self.b.conv.groups, 5)
            self.scale = self.a.conv.stride[1] + self.a.bn.eps * 1000

        def forward(self, x):
            y = self.b(self.s(self.a(x)))
            return self.head(torch.cat([y.mean((2, 3)), y[:, :2, 0, 0]], 1)) * self.scale
""")


def test_torch_hyperparameters_read_off_an_untyped_layer(tmp_path):
    """``self.conv.out_channels`` (``stride``, ``dilation``, ``groups``, ``eps``) on a
    layer built by a factory: the NNX layer's ``out_features``, an n-tuple of its
    ``strides``, at run time (torch_layer_attr reads the rows' attrs); a translated
    class's own property keeps its name."""
    result, tmod, jmod, wmod = translate_files(HYPER_READS, tmp_path)
    assert result.todo_count == 0, result.code
    assert "torch_layer_attr(self.conv, \"out_channels\")" in result.code.replace("'", '"'), result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 12, 12)], jit=True)


SUPER_RESET = HEADER + textwrap.dedent("""
    class GainConv2d(nn.Conv2d):
        def __init__(self, cin, cout, k, gain_init=1.0):
            super().__init__(cin, cout, k, padding=k // 2)
            self.gain_init = gain_init
            self.gain = nn.Parameter(torch.ones(cout, 1, 1, 1))
            self.reset_parameters()

        def reset_parameters(self):
            if hasattr(self, "gain"):
                nn.init.constant_(self.gain, self.gain_init)
                super().reset_parameters()

        def forward(self, x):
            w = (self.weight * self.gain).reshape(self.out_channels, -1).reshape_as(self.weight)
            return F.conv2d(x, w, self.bias, self.stride, 1)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = GainConv2d(4, 32, 3, gain_init=0.5)

        def forward(self, x):
            return self.conv(x)
""")


def test_super_reset_parameters_of_a_torch_layer(tmp_path):
    """``super().reset_parameters()`` in a subclass of nn.Conv2d: the layer's torch
    initialisation drawn again (kaiming_uniform, a=sqrt(5): within 1/sqrt(fan_in),
    where NNX's own lecun_normal init is not), with the class's rngs."""
    import math

    from flax import nnx

    result, tmod, jmod, wmod = translate_files(SUPER_RESET, tmp_path)
    assert result.todo_count == 0, result.code
    assert "torch_reset_parameters(self, rngs)" in result.code, result.code
    model = jmod.Net(rngs=nnx.Rngs(0))
    kernel = np.asarray(model.conv.kernel.get_value())
    bound = 1 / math.sqrt(4 * 9)
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.9 * bound
    assert np.allclose(np.asarray(model.conv.gain.get_value()), 0.5)
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 4, 8, 8)], jit=True)


SCALED_HEAD = HEADER + textwrap.dedent("""
    def _init_weights(module, name=None, head_init_scale=1.0):
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)
            if name and "head" in name:
                module.weight.data.mul_(head_init_scale)
                module.bias.data.mul_(head_init_scale)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(8, 6)
            self.head = nn.Linear(6, 3)
            for name, m in self.named_modules():
                _init_weights(m, name, head_init_scale=0.5)

        def forward(self, x):
            return self.head(self.body(x))
""")


def test_a_weight_scaled_by_a_parameter_leaves_the_parameter_undecided(tmp_path):
    """``module.weight.data.mul_(s)`` reads the kernel in torch's order; the
    scale ``s`` multiplying it is not asked for the kernel's order (the bias it
    scales next is plain: no transpose of a float)."""
    result, tmod, jmod, wmod = translate_files(SCALED_HEAD, tmp_path)
    assert result.todo_count == 0, result.code
    assert "transpose(head_init_scale" not in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 8)], jit=True)


CONV_SUBCLASS = HEADER + textwrap.dedent("""
    class StdConv2d(nn.Conv2d):
        def __init__(self, cin, cout, k, stride=1, padding=None, eps=1e-6):
            if padding is None:
                padding = ((stride - 1) + (k - 1)) // 2
            super().__init__(cin, cout, k, stride=stride, padding=padding, bias=True)
            self.eps = eps

        def forward(self, x):
            w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                             training=True, momentum=0.0, eps=self.eps).reshape_as(self.weight)
            return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = StdConv2d(3, 4, 3)
            self.b = StdConv2d(4, 5, 3, stride=2, padding=(0, 1))

        def forward(self, x):
            return self.b(self.a(x))
""")


def test_a_conv_subclass_hands_its_own_padding_to_the_functional_conv(tmp_path):
    """A Conv2d subclass calling ``F.conv2d(x, w, self.bias, self.stride,
    self.padding, ...)`` (timm's StdConv2d / ScaledStdConv2d) hands on the padding
    the NNX layer holds (already pairs): converted once, the weight standardised
    in torch's order."""
    result, tmod, jmod, wmod = translate_files(CONV_SUBCLASS, tmp_path)
    assert result.todo_count == 0, result.code
    run_parity(result, tmod, jmod, wmod, "Net", [rand(2, 3, 9, 9)], jit=True)
