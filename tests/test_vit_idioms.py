"""vit-pytorch idioms that decide or read an image's layout (issue 12), each on
a minimal model written here, at parity with torch (perturbed weights, eval,
eagerly and under ``nnx.jit``, input gradients too):

- a sequence patchified by an einops ``Rearrange`` (``b c (n p) -> b n (p c)``,
  the 1-D ViTs): the model takes (N, L, C), as it would before a ``Conv1d``,
  the pattern rewritten; a token split into heads (``b n (h d) -> b h n d``)
  is no sequence of channels and keeps its order;
- ``b, _, h, w, p = *img.shape, self.patch_size`` read before the image meets
  the layer that takes it channels-last (RvT): the sizes unpacked from the
  display are torch's;
- ``rearrange(x, pattern, **fmap_dims)`` (RvT's spatial convolution): the
  keywords handed on to einops as they are.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import input_grads, run_parity, translate_files

HEADER = ("import torch\nimport torch.nn as nn\nfrom einops import rearrange\n"
          "from einops.layers.torch import Rearrange\n\n\n")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def check(src, cls, x, tmp_path):
    result, tmod, jmod, wmod = translate_files(src, tmp_path)
    assert result.todo_count == 0, result.code
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, cls, [x], jit=jit)
    t_grad, j_grad = input_grads(result, tmod, jmod, wmod, cls, x)
    np.testing.assert_allclose(j_grad, t_grad, rtol=1e-4, atol=1e-4)
    return result


SEQUENCE = HEADER + textwrap.dedent("""
    class SeqViT(nn.Module):
        def __init__(self, channels=3, patch=4, dim=8, heads=2):
            super().__init__()
            self.embed = nn.Sequential(
                Rearrange('b c (n p) -> b n (p c)', p=patch),
                nn.LayerNorm(patch * channels),
                nn.Linear(patch * channels, dim),
            )
            self.split = Rearrange('b n (h d) -> b h n d', h=heads)
            self.out = nn.Linear(dim // heads, 5)

        def forward(self, series):
            x = self.embed(series)
            return self.out(self.split(x)).mean(dim=2)
""")


def test_a_sequence_patchified_by_rearrange_is_taken_channels_last(tmp_path):
    result = check(SEQUENCE, "SeqViT", rand(2, 3, 16), tmp_path)
    assert "b (n p) c -> b n (p c)" in result.code and "b n (h d) -> b h n d" in result.code, result.code
    assert "Takes series as (N, L, C)" in result.code, result.code


STARRED = HEADER + textwrap.dedent("""
    class SpatialConv(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

        def forward(self, x, fmap_dims):
            cls_token, x = x[:, :1], x[:, 1:]
            x = rearrange(x, 'b (h w) d -> b d h w', **fmap_dims)
            x = self.conv(x)
            x = rearrange(x, 'b d h w -> b (h w) d')
            return torch.cat((cls_token, x), dim=1)


    class PatchNet(nn.Module):
        def __init__(self, channels=3, patch=2, dim=8):
            super().__init__()
            self.patch_size = patch
            self.embed = nn.Sequential(
                Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=patch, p2=patch),
                nn.Linear(channels * patch * patch, dim),
            )
            self.cls = nn.Parameter(torch.randn(1, 1, dim))
            self.spatial = SpatialConv(dim)

        def forward(self, img):
            b, _, h, w, p = *img.shape, self.patch_size
            x = self.embed(img)
            x = torch.cat((self.cls.expand(b, -1, -1), x), dim=1)
            fmap_dims = {'h': h // p, 'w': w // p}
            return self.spatial(x, fmap_dims) * (w / h)
""")


def test_starred_shape_read_first_and_keywords_handed_on(tmp_path):
    # a non-square image: the sizes read from the wrong axes would not fit the rearrange
    result = check(STARRED, "PatchNet", rand(2, 3, 4, 8), tmp_path)
    assert "**fmap_dims" in result.code and "einops.rearrange(" in result.code, result.code


SHIFTED = HEADER + textwrap.dedent("""
    import torch.nn.functional as F


    class SPT(nn.Module):
        def __init__(self, channels=3, patch=2, dim=8):
            super().__init__()
            self.to_patch_tokens = nn.Sequential(
                Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=patch, p2=patch),
                nn.LayerNorm(patch * patch * 5 * channels),
                nn.Linear(patch * patch * 5 * channels, dim),
            )

        def forward(self, x):
            shifts = ((1, -1, 0, 0), (-1, 1, 0, 0), (0, 0, 1, -1), (0, 0, -1, 1))
            shifted_x = list(map(lambda shift: F.pad(x, shift), shifts))
            x_with_shifts = torch.cat((x, *shifted_x), dim=1)
            return self.to_patch_tokens(x_with_shifts)


    class PadCat(nn.Module):
        def __init__(self, channels=3):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(2 * channels, 4, 3, padding=1), nn.ReLU())

        def forward(self, x):
            return self.stem(torch.cat((x, F.pad(x, (0, 0, -1, 1))), dim=1))
""")


@pytest.mark.parametrize("cls", ["SPT", "PadCat"])
def test_an_image_padded_and_joined_before_its_first_layer_is_taken_channels_last(cls, tmp_path):
    """Shifted copies of the input (``F.pad`` with a crop on one side, the widths a
    loop's) joined along the channels, then patchified or convolved: the model
    takes (N, H, W, C), the shifts placed on the physical axes, the join on the
    last one; before, the model took torch's layout."""
    result = check(SHIFTED, cls, rand(2, 3, 4, 6), tmp_path)
    assert f"class {cls}(nnx.Module):\n    \"\"\"Takes x as (N, H, W, C)" in result.code, result.code
    assert "axis=-1" in result.code and "jnp.transpose" not in result.code.split(f"class {cls}")[1], result.code


GATED = HEADER + textwrap.dedent("""
    from einops.layers.torch import Reduce


    class SqueezeExcitation(nn.Module):
        def __init__(self, dim, shrinkage_rate=0.25):
            super().__init__()
            hidden_dim = int(dim * shrinkage_rate)
            self.gate = nn.Sequential(
                Reduce('b c h w -> b c', 'mean'),
                nn.Linear(dim, hidden_dim, bias=False),
                nn.SiLU(),
                nn.Linear(hidden_dim, dim, bias=False),
                nn.Sigmoid(),
                Rearrange('b c -> b c 1 1'),
            )

        def forward(self, x):
            return x * self.gate(x)


    class MBConv(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(3, dim, 1), nn.BatchNorm2d(dim), nn.GELU(),
                SqueezeExcitation(dim),
                nn.Conv2d(dim, dim, 1),
            )

        def forward(self, x):
            return self.net(x)
""")


def test_an_image_pooled_whole_by_a_reduce_layer_stays_channels_last(tmp_path):
    """``Reduce('b c h w -> b c', 'mean')`` gating a squeeze-excitation between two
    convolutions (vit-pytorch's MaxViT): the layer reads the map channels-last
    (its pattern rewritten), so the block needs no transpose and no move between
    the Sequential's layers; before, the map went back to torch's order there."""
    result = check(GATED, "MBConv", rand(2, 3, 4, 5), tmp_path)
    assert 'pattern="b h w c -> b c"' in result.code and "moves=" not in result.code, result.code


NAMED_SHAPE = HEADER + textwrap.dedent("""
    class LocalAttention(nn.Module):
        def __init__(self, dim=6, patch_size=2, heads=2):
            super().__init__()
            self.patch_size, self.heads = patch_size, heads
            self.norm = nn.BatchNorm2d(dim)
            self.to_out = nn.Conv2d(dim, dim, 1)

        def forward(self, fmap):
            fmap = self.norm(fmap)
            shape, p = fmap.shape, self.patch_size
            b, n, x, y, h = *shape, self.heads
            x, y = map(lambda t: t // p, (x, y))
            out = rearrange(fmap, 'b (h d) (x p1) (y p2) -> (b x y h) (p1 p2) d', h=h, p1=p, p2=p)
            out = out.softmax(dim=-1)
            out = rearrange(out, '(b x y h) (p1 p2) d -> b (h d) (x p1) (y p2)', h=h, x=x, y=y, p1=p, p2=p)
            return self.to_out(out)
""")


def test_a_shape_bound_in_a_pairwise_assignment_keeps_its_layout(tmp_path):
    """``shape, p = fmap.shape, self.patch_size`` then ``*shape`` unpacked
    (vit-pytorch's Twins-SVT): ``shape`` is the channels-last map's shape, read
    in torch's order where it is unpacked; before, it was read as it is held
    (a non-square map's sizes swapped)."""
    result = check(NAMED_SHAPE, "LocalAttention", rand(2, 6, 4, 8), tmp_path)
    assert "*tuple((shape)[a] for a in (0, 3, 1, 2))" in result.code, result.code


WINDOWS = HEADER + textwrap.dedent("""
    class Stages(nn.Module):
        def __init__(self, dim=4, w=2, depth=2):
            super().__init__()
            self.layers = nn.ModuleList([])
            for _ in range(depth):
                self.layers.append(nn.Sequential(
                    nn.Conv2d(dim, dim, 3, padding=1),
                    Rearrange('b d (x w1) (y w2) -> b x y w1 w2 d', w1=w, w2=w),
                    nn.LayerNorm(dim),
                    nn.Linear(dim, dim),
                    Rearrange('b x y w1 w2 d -> b d (w1 x) (w2 y)'),
                ))

        def forward(self, x):
            for stage in self.layers:
                x = stage(x)
            return x
""")


def test_windows_assembled_by_a_rearrange_layer_return_the_map_channels_last(tmp_path):
    """A block ending in ``Rearrange('b x y w1 w2 d -> b d (w1 x) (w2 y)')``
    (vit-pytorch's MaxViT), called in a loop: the map it assembles comes back
    channels-last, as the next block's convolution takes it; before, it came
    back in torch's order and the second block's convolution read the wrong
    axis as its channels."""
    result = check(WINDOWS, "Stages", rand(2, 4, 4, 8), tmp_path)
    assert "-> b (w1 x) (w2 y) d" in result.code and "jnp.transpose" not in result.code.split("class Stages")[1], \
        result.code


STAGES_AND_HEAD = HEADER + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, depth=2):
            super().__init__()
            layers = []
            for _ in range(depth):
                layers.append(nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.GELU()))
            self.layers = nn.Sequential(
                *layers,
                nn.AdaptiveAvgPool2d(1),
                Rearrange('... () () -> ...'),
                nn.Linear(3, 5),
            )

        def forward(self, x):
            return self.layers(x)
""")


def test_a_sequential_of_starred_stages_and_a_head_folds_the_head(tmp_path):
    """``nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), Rearrange('... () () ->
    ...'), nn.Linear(...))`` (vit-pytorch's Twins-SVT): the stages' list is one
    chain, the head after it is folded as in a Sequential written out, so the
    pooled map reaches the rearrange in torch's order; before, nothing was
    folded and the rearrange read the channels-last map."""
    check(STAGES_AND_HEAD, "Net", rand(2, 3, 4, 6), tmp_path)


STAGES_LOOP = HEADER + textwrap.dedent("""
    class Embed(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.proj = nn.Conv2d(cin, cout, 2, stride=2)

        def forward(self, x):
            x = self.proj(x)
            size = x.shape[-2:]
            return x.flatten(2).transpose(1, 2), size


    class Stages(nn.Module):
        def __init__(self, dims=(3, 4, 6)):
            super().__init__()
            self.embeds = nn.ModuleList([Embed(a, b) for a, b in zip(dims[:-1], dims[1:])])
            self.mlps = nn.ModuleList([nn.Linear(b, b) for b in dims[1:]])

        def forward(self, x):
            B = x.shape[0]
            for i, (embed, mlp) in enumerate(zip(self.embeds, self.mlps)):
                x, size = embed(x)
                x = mlp(x)
                if i < len(self.embeds) - 1:
                    x = x.reshape(B, *size, -1).permute(0, 3, 1, 2).contiguous()
            return x.mean(dim=1)
""")


def test_a_tensor_carried_by_a_loop_leaves_each_iteration_as_it_entered(tmp_path):
    """timm's Twins: each stage's tokens are made a torch-order map for the next
    stage's patch embedding, which the loop body (rewritten once) takes
    channels-last: the body ends by moving the map back to the layout it
    entered with, at the map's rank only (the last stage keeps tokens);
    before, the second stage's convolution read the wrong axis as channels."""
    result = check(STAGES_LOOP, "Stages", rand(2, 3, 8, 8), tmp_path)
    assert "map_order(x, (0, 2, 3, 1))" in result.code, result.code


POOLED_STAGES = HEADER + textwrap.dedent("""
    from typing import Tuple


    class SeqTuple(nn.Sequential):
        def forward(self, x: Tuple[torch.Tensor, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
            for module in self:
                x = module(x)
            return x


    class Pool(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1, groups=cin)
            self.fc = nn.Linear(cin, cout)

        def forward(self, x, tok):
            return self.conv(x), self.fc(tok)


    class Stage(nn.Module):
        def __init__(self, dim, pool=None):
            super().__init__()
            self.pool = pool
            self.mix = nn.Linear(dim, dim)

        def forward(self, x):
            x, tok = x
            n = tok.shape[1]
            if self.pool is not None:
                x, tok = self.pool(x, tok)
            B, C, H, W = x.shape
            x = x.flatten(2).transpose(1, 2)
            x = torch.cat((tok, x), dim=1)
            x = self.mix(x)
            tok = x[:, :n]
            x = x[:, n:]
            x = x.transpose(1, 2).reshape(B, C, H, W)
            return x, tok


    class Net(nn.Module):
        def __init__(self, dims=(4, 8, 16)):
            super().__init__()
            self.embed = nn.Conv2d(3, dims[0], 2, stride=2)
            self.cls = nn.Parameter(torch.randn(1, 1, dims[0]))
            stages = []
            for i, d in enumerate(dims):
                stages += [Stage(d, Pool(dims[i - 1], d) if i > 0 else None)]
            self.stages = SeqTuple(*stages)
            self.head = nn.Linear(dims[-1], 5)

        def forward(self, x):
            x = self.embed(x)
            tok = self.cls.expand(x.shape[0], -1, -1)
            x, tok = self.stages((x, tok))
            return self.head(tok[:, 0]) + x.mean((2, 3)).sum(-1, keepdim=True)
""")


def test_a_map_and_tokens_handed_as_one_tuple_keep_their_layouts(tmp_path):
    """A map and class tokens handed as one tuple through a Sequential subclass
    built by its caller (``SeqTuple(*stages)``, ``for module in self: x =
    module(x)``) to stages that unpack it, pool both with a module handed to
    their constructor, join the flattened map to the tokens and return the pair
    (timm's PiT): the tuple keeps each item's layout through the calls (the map
    channels-last, the tokens plain), the stages' results are asked back in the
    layouts they take; before, the stages read the channels-last map as torch's
    and concatenated its width with the tokens."""
    result = check(POOLED_STAGES, "Net", rand(2, 3, 12, 20), tmp_path)
    stage = result.code.split("class Stage")[1].split("class Net")[0]
    assert "B, H, W, C = x.shape" in stage and "torch_order_layer" not in stage, result.code


HELD_LAYERS = HEADER + textwrap.dedent("""
    class Residual(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return self.fn(x) + x


    class ChanNorm(nn.Module):
        def __init__(self, dim, eps=1e-5):
            super().__init__()
            self.eps = eps
            self.g = nn.Parameter(torch.ones(1, dim, 1, 1))
            self.b = nn.Parameter(torch.zeros(1, dim, 1, 1))

        def forward(self, x):
            var = torch.var(x, dim=1, unbiased=False, keepdim=True)
            mean = torch.mean(x, dim=1, keepdim=True)
            return (x - mean) / (var + self.eps).sqrt() * self.g + self.b


    class FeedForward(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.net = nn.Sequential(ChanNorm(dim), nn.Conv2d(dim, dim * 2, 1), nn.GELU(),
                                     nn.Conv2d(dim * 2, dim, 1))

        def forward(self, x):
            return self.net(x)


    class Stage(nn.Module):
        def __init__(self, dim, depth):
            super().__init__()
            self.layers = nn.ModuleList([])
            for _ in range(depth):
                self.layers.append(nn.ModuleList([
                    Residual(FeedForward(dim)),
                    Residual(nn.Conv2d(dim, dim, 3, padding=1, groups=dim)),
                ]))

        def forward(self, x):
            for ff, peg in self.layers:
                x = ff(x)
                x = peg(x)
            return x


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.layers = nn.Sequential(
                nn.Conv2d(3, dim, 3, padding=1),
                Stage(dim, 2),
                nn.AdaptiveAvgPool2d(1),
                Rearrange('... () () -> ...'),
                nn.Linear(dim, 5),
            )

        def forward(self, x):
            return self.layers(x)
""")


def test_layers_handed_to_a_constructor_are_called_as_what_callers_built(tmp_path):
    """``Residual(FeedForward(dim))`` / ``Residual(nn.Conv2d(...))`` (vit-pytorch's
    Twins-SVT): the wrapper's ``self.fn`` holds what its callers build, so the
    wrapped classes are told they are handed the wrapper's channels-last map;
    before, ``self.fn`` was unknown, ``FeedForward`` (called by no one the
    analysis saw) took torch's order and its (1, C, 1, 1) scale met a
    channels-last map."""
    result = check(HELD_LAYERS, "Net", rand(2, 3, 6, 10), tmp_path)
    ff = result.code.split("class FeedForward")[1].split("class Stage")[0]
    assert "Takes x as (N, H, W, C)" in ff and "moves=" not in ff, result.code
