"""Token (B, N, C) tensors beside images in one file (the ViT family of the
timm corpus): layers shared by token and image models must not turn a token
tensor into an image. Each case: torch vs NNX, perturbed weights, eval and
nnx.jit."""

from __future__ import annotations

import numpy as np

from test_layout_forward import HEADER as LAYOUT_HEADER, rand  # noqa: F401
from test_layout_forward import parity as layout_parity

HEADER = LAYOUT_HEADER + "from functools import partial\n\n\n"


def parity(source, tmp_path, cls, inputs):
    return layout_parity(source, tmp_path, cls, inputs, header=HEADER)


CONV_OR_LINEAR = """
    class Mlp(nn.Module):
        def __init__(self, cin, hidden, use_conv=False):
            super().__init__()
            linear_layer = partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear
            self.fc1 = linear_layer(cin, hidden)
            self.act = nn.GELU()
            self.fc2 = linear_layer(hidden, cin)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))


    class DropPath(nn.Module):
        def __init__(self, p=0.0):
            super().__init__()
            self.p = p

        def forward(self, x):
            if self.p == 0.0 or not self.training:
                return x
            shape = (x.shape[0],) + (1,) * (x.ndim - 1)
            return x * torch.rand(shape) / (1 - self.p)


    class TokenNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(8)
            self.mlp = Mlp(8, 16)
            self.drop_path = DropPath(0.1)

        def forward(self, x):
            x = x + self.drop_path(self.mlp(self.norm(x)))
            return x[:, 0] + x.mean(1)


    class ConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.mlp = Mlp(8, 16, use_conv=True)
            self.drop_path = DropPath(0.1)

        def forward(self, x):
            x = self.stem(x)
            x = x + self.drop_path(self.mlp(x))
            return x.mean((2, 3))


    class Both(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens = TokenNet()
            self.images = ConvNet()

        def forward(self, x, t):
            return self.images(x) + self.tokens(t)
"""


def test_conv_or_linear_layer_shared_by_tokens_and_images(tmp_path):
    """timm's Mlp (`partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear`)
    and DropPath, used by a token model (B, N, C) and a conv model in one file:
    the layer chosen at run time takes what its caller hands it, as it is."""
    parity(CONV_OR_LINEAR, tmp_path, "TokenNet", [rand(2, 5, 8)])
    parity(CONV_OR_LINEAR, tmp_path, "ConvNet", [rand(2, 3, 6, 6)])
    parity(CONV_OR_LINEAR, tmp_path, "Both", [rand(2, 3, 6, 6), rand(2, 5, 8, seed=1)])


VARIABLES_AS_ARRAYS = """
    class Blur(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.channels = channels
            self.register_buffer('filt', torch.empty(channels, 1, 3, 3), persistent=False)
            self.filt.copy_(torch.tensor([1.0, 2.0, 1.0])[:, None] * torch.tensor([1.0, 2.0, 1.0])[None, :] / 16)

        def forward(self, x):
            weight = self.filt
            return F.conv2d(x, weight, padding=1, groups=self.channels)


    class Bias(nn.Module):
        def __init__(self, heads, n):
            super().__init__()
            self.biases = nn.Parameter(torch.zeros(heads, n))
            self.register_buffer('idxs', torch.arange(n * n).view(n, n) % n, persistent=False)

        def forward(self, attn):
            return attn + self.biases[:, self.idxs]


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blur = Blur(3)
            self.bias = Bias(2, 4)

        def forward(self, x, attn):
            return self.blur(x).mean((2, 3)).sum() + self.bias(attn)
"""


def test_parameters_and_buffers_read_as_arrays(tmp_path):
    """timm's BlurPool2d (`weight = self.filt` handed to F.conv2d) and TinyViT's
    attention biases (`self.attention_biases[:, self.attention_bias_idxs]`): a
    Variable handed to a JAX primitive or used as an index raises under nnx.jit;
    its value is read instead."""
    result = parity(VARIABLES_AS_ARRAYS, tmp_path, "Net", [rand(2, 3, 6, 6), rand(2, 2, 4, 4, seed=1)])
    assert "self.idxs[...]" in result.code and "weight = self.filt[...]" in result.code


POSITIONS_PERMUTED = """
    class PatchEmbed(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Conv2d(3, 8, 2, 2)

        def forward(self, x):
            x = self.proj(x)
            Hp, Wp = x.shape[2], x.shape[3]
            x = x.flatten(2).transpose(1, 2)
            return x, (Hp, Wp)


    class PosEnc(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Conv2d(4, 8, 1)

        def forward(self, B: int, H: int, W: int):
            return self.proj(torch.linspace(0, 1, B * 4 * H * W).reshape(B, 4, H, W))


    class Block(nn.Module):
        def __init__(self, norm_layer=nn.LayerNorm):
            super().__init__()
            self.norm = norm_layer(8)
            self.fc = nn.Linear(8, 8)

        def forward(self, x, H: int, W: int):
            return x + self.fc(self.norm(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch_embed = PatchEmbed()
            self.pos_embed = PosEnc()
            self.blocks = nn.ModuleList([Block() for _ in range(2)])
            self.norm = nn.LayerNorm(8)

        def forward(self, x):
            B = x.shape[0]
            x, (Hp, Wp) = self.patch_embed(x)
            pos_encoding = self.pos_embed(B, Hp, Wp).reshape(B, -1, x.shape[1]).permute(0, 2, 1)
            x = x + pos_encoding
            for blk in self.blocks:
                x = blk(x, Hp, Wp)
            return self.norm(x)[:, 0]
"""


def test_tokens_plus_permuted_positions_stay_tokens(tmp_path):
    """XCiT: `x + pos.reshape(B, -1, N).permute(0, 2, 1)` with x (B, N, C) tokens:
    the sum stays in torch order (the permuted operand is transposed), so the
    blocks it reaches (a LayerNorm from a factory) normalise the channels."""
    result = parity(POSITIONS_PERMUTED, tmp_path, "Net", [rand(2, 3, 8, 8)])
    assert "x = x + jnp.transpose(pos_encoding, (0, 2, 1))" in result.code


STAGES_GROWN_WITH_PLUS = """
    class Stage(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.down = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
            self.norm = nn.LayerNorm(cout)
            self.fc = nn.Linear(cout, cout)

        def forward(self, x):
            x = self.down(x).permute(0, 2, 3, 1)
            B, H, W, C = x.shape
            x = x.reshape(B, -1, C)
            x = x + self.fc(self.norm(x))
            return x.reshape(B, H, W, -1).permute(0, 3, 1, 2).contiguous()


    class Net(nn.Module):
        def __init__(self, dims=(8, 12, 16)):
            super().__init__()
            stages = []
            prev = 3
            for d in dims:
                stages += [Stage(prev, d)]
                prev = d
            self.stages = nn.Sequential(*stages)
            self.head = nn.Linear(prev, 5)

        def forward(self, x):
            x = self.stages(x)
            x = x.mean(dim=(-1, -2))
            return self.head(x)
"""


def test_layers_collected_with_plus_equals_keep_their_layouts(tmp_path):
    """timm's PVT-v2: `stages += [Stage(...)]` then `nn.Sequential(*stages)`; each
    stage makes an image from tokens (`reshape(B, H, W, -1).permute(0, 3, 1, 2)`),
    so the head's `x.mean(dim=(-1, -2))` reduces the spatial axes of a
    channels-last array."""
    parity(STAGES_GROWN_WITH_PLUS, tmp_path, "Net", [rand(2, 3, 16, 16)])


NORM_OF_PERMUTED_HEADS = """
    class LayerNorm(nn.LayerNorm):
        def forward(self, x):
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


    class Attention(nn.Module):
        def __init__(self, dim, heads=2, norm_layer=LayerNorm):
            super().__init__()
            self.heads = heads
            self.head_dim = dim // heads
            self.qkv = nn.Linear(dim, dim * 3)
            self.q_norm = norm_layer(self.head_dim)
            self.k_norm = norm_layer(self.head_dim)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            B, N, C = x.shape
            qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            q, k = self.q_norm(q), self.k_norm(k)
            attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
            x = (attn @ v).transpose(1, 2).reshape(B, N, C)
            return self.proj(x)


    class Block(nn.Module):
        def __init__(self, dim, norm_layer=LayerNorm):
            super().__init__()
            self.norm1 = norm_layer(dim)
            self.attn = Attention(dim, norm_layer=norm_layer)
            self.norm2 = norm_layer(dim)
            self.fc = nn.Linear(dim, dim)

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.fc(self.norm2(x))


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.proj = nn.Conv2d(3, dim, 2, 2)
            self.blocks = nn.Sequential(Block(dim), Block(dim))
            self.norm = LayerNorm(dim)

        def forward(self, x):
            x = self.proj(x).flatten(2).transpose(1, 2)
            x = self.norm(self.blocks(x))
            return x.mean(1)
"""


def test_norm_handed_tokens_and_lazily_permuted_heads(tmp_path):
    """timm's ViT: one LayerNorm class normalises the blocks' tokens (B, N, C) and
    the attention's queries and keys, `qkv.permute(2, 0, 3, 1, 4).unbind(0)`
    (B, H, N, D) left physically (B, N, H, D): callers disagreeing on a
    permutation that is no channels-last layout agree on torch order (the
    permuted caller pays a transpose); the blocks' tokens were transposed as
    rank-4 tensors (`axis 3 is out of bounds`)."""
    parity(NORM_OF_PERMUTED_HEADS, tmp_path, "Net", [rand(2, 3, 8, 8)])


SHAPE_UNPACKED_BEFORE_THE_CONV = """
    class PatchEmbed(nn.Module):
        def __init__(self, cin, dim, p):
            super().__init__()
            self.p = p
            self.proj = nn.Conv2d(cin, dim, p, p)
            self.norm = nn.LayerNorm(dim)

        def forward(self, x):
            B, C, H, W = x.shape
            x = self.proj(x).flatten(2).transpose(1, 2)
            x = self.norm(x)
            return x, (H // self.p, W // self.p)


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.patch_embed = PatchEmbed(3, dim, 2)
            self.fc = nn.Linear(dim, dim)
            self.conv = nn.Conv2d(dim, dim, 3, padding=1)

        def forward(self, x):
            B = x.shape[0]
            x, size = self.patch_embed(x)
            x = x + self.fc(x)
            x = x.reshape(B, *size, -1).permute(0, 3, 1, 2).contiguous()
            return self.conv(x).mean((2, 3))
"""


def test_shape_unpacked_before_a_conv_decides_the_layout(tmp_path):
    """Twins' PatchEmbed: `B, C, H, W = x.shape` on a parameter no caller has given
    a layout yet, then the patch conv takes it channels-last: from the next
    round on the parameter is channels-last from the start, so the unpacking
    reads (B, H, W, C) (before, H read the width and W the channels: the sizes
    it returned made `reshape(B, *size, -1)` fail)."""
    result = parity(SHAPE_UNPACKED_BEFORE_THE_CONV, tmp_path, "Net", [rand(2, 3, 8, 8)])
    assert "B, H, W, C = x.shape" in result.code


PERMUTED_HEADS_TO_A_MODULE_HANDED_IN = """
    class RelPos(nn.Module):
        def __init__(self, ch):
            super().__init__()
            self.fc = nn.Linear(ch, ch)

        def forward(self, q, v, size: int):
            B, h, N, C = q.shape
            return self.fc(q[:, :, :size] * v[:, :, :size]).reshape(B, h, size, C)


    class Attention(nn.Module):
        def __init__(self, dim, heads, shared):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(dim, dim * 3)
            self.crpe = shared

        def forward(self, x):
            B, N, C = x.shape
            qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            crpe = self.crpe(q, v, size=2)
            return (q[:, :, :2] * k[:, :, :2] + crpe).sum(1)


    class Net(nn.Module):
        def __init__(self, dim=8, heads=2):
            super().__init__()
            self.attn = Attention(dim, heads, RelPos(dim // heads))

        def forward(self, x):
            return self.attn(x)
"""


def test_permuted_heads_handed_to_a_module_of_unknown_class(tmp_path):
    """CoaT: `self.crpe = shared_crpe` (a module the constructor is given) called
    with q and v, attention heads held lazily permuted (B, N, h, d): a module
    the analysis cannot see takes channels-last images as they are, nothing
    else, so both go in torch order (the callee read N where the heads were)."""
    parity(PERMUTED_HEADS_TO_A_MODULE_HANDED_IN, tmp_path, "Net", [rand(2, 5, 8)])


TOKENS_TRANSPOSED_TO_A_SHARED_MLP = """
    class Mlp(nn.Module):
        def __init__(self, cin, hidden, use_conv=False):
            super().__init__()
            linear_layer = partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear
            self.fc1 = linear_layer(cin, hidden)
            self.act = nn.GELU()
            self.fc2 = linear_layer(hidden, cin)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))


    class MixerBlock(nn.Module):
        def __init__(self, dim, seq_len, norm_layer=partial(nn.LayerNorm, eps=1e-6)):
            super().__init__()
            self.norm1 = norm_layer(dim)
            self.mlp_tokens = Mlp(seq_len, 16)
            self.norm2 = norm_layer(dim)
            self.mlp_channels = Mlp(dim, 12)

        def forward(self, x):
            x = x + self.mlp_tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
            return x + self.mlp_channels(self.norm2(x))


    class Mixer(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.proj = nn.Conv2d(3, dim, 2, 2)
            self.blocks = nn.ModuleList([MixerBlock(dim, 16) for _ in range(2)])

        def forward(self, x):
            x = self.proj(x).flatten(2).transpose(1, 2)
            for blk in self.blocks:
                x = blk(x)
            return x.mean(1)


    class ConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.mlp = Mlp(8, 16, use_conv=True)

        def forward(self, x):
            x = self.stem(x)
            return (x + self.mlp(x)).mean((2, 3))


    class Both(nn.Module):
        def __init__(self):
            super().__init__()
            self.mixer = Mixer()
            self.convs = ConvNet()

        def forward(self, x):
            return self.mixer(x) + self.convs(x)
"""


def test_tokens_transposed_for_a_layout_generic_mlp(tmp_path):
    """MLP-Mixer: `self.mlp_tokens(self.norm1(x).transpose(1, 2))` holds the tokens
    (B, N, C) lazily transposed, (0, 2, 1), which looks like a channels-last
    (N, C, L) batch; the Mlp (Linear or 1x1 Conv2d, chosen at run time) is left
    undecided because image and token models share it, and takes what it is
    handed as it is: a held permutation no image has goes in torch order (before,
    its Linear mixed the channels: `dot_general ... (512,) and (4,)`)."""
    parity(TOKENS_TRANSPOSED_TO_A_SHARED_MLP, tmp_path, "Mixer", [rand(2, 3, 8, 8)])
    parity(TOKENS_TRANSPOSED_TO_A_SHARED_MLP, tmp_path, "Both", [rand(2, 3, 8, 8)])


TOKENS_FROM_A_CONV_TO_A_NORM_MLP = """
    class NormMlp(nn.Module):
        def __init__(self, dim, hidden, norm_layer=nn.LayerNorm):
            super().__init__()
            self.norm = norm_layer(dim)
            self.fc1 = nn.Linear(dim, hidden)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(hidden, dim)

        def forward(self, x):
            x = self.norm(x)
            return self.fc2(self.act(self.fc1(x)))


    class Block(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.local_conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
            self.mlp = NormMlp(dim, 16)

        def forward(self, x):
            B, H, W, C = x.shape
            L = H * W
            x = x.permute(0, 3, 1, 2)
            x = self.local_conv(x)
            x = x.reshape(B, C, L).transpose(1, 2)
            x = x + self.mlp(x)
            return x.view(B, H, W, C)
"""


def test_tokens_from_a_conv_handed_to_a_norm_mlp(tmp_path):
    """TinyViT: `x.reshape(B, C, L).transpose(1, 2)` after a depthwise conv holds
    tokens (B, L, C) as (B, C, L), (0, 2, 1) like an (N, C, L) batch; handed to
    an Mlp whose LayerNorm normalises the channels, they reach it as tokens
    (before: the norm got (B, C, L): `cannot reshape (8,) into [1, 1, 16]`)."""
    parity(TOKENS_FROM_A_CONV_TO_A_NORM_MLP, tmp_path, "Block", [rand(2, 4, 4, 8)])
