"""The model's channels-first input recognised by ops other than a convolution
(issue 12): a (C, 1, 1) normalisation buffer or scale applied to the input
image (timm's CSATv2 ``x.mul(self.imagenet_std).add_(self.imagenet_mean)``).
The translated model must take the image channels-last, as the output contract
says and the corpus runner feeds it. Each case: torch vs NNX, perturbed
weights, eval and nnx.jit."""

from __future__ import annotations

from harness import perm_of
from test_layout_forward import parity, rand

PER_CHANNEL_BUFFERS = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.register_buffer("mean", torch.empty(3, 1, 1), persistent=False)
            self.register_buffer("std", torch.empty(3, 1, 1), persistent=False)
            self.scale = nn.Parameter(torch.ones(3, 1, 1) * 0.5)
            self._init_buffers()

        def _init_buffers(self):
            self.mean.copy_(torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1))
            self.std.copy_(torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1))

        def _denormalize(self, x):
            return x.mul(self.std).add_(self.mean) * 255

        def forward(self, x):
            x = self._denormalize(x) * self.scale
            return self.conv(x)
"""


def test_per_channel_buffers_make_the_input_an_image(tmp_path):
    result = parity(PER_CHANNEL_BUFFERS, tmp_path, "Net", [rand(2, 3, 8, 8)])
    assert perm_of(result.layout_of("Net").takes["x"]) == (0, 2, 3, 1)


SHAPE_CHECK = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 4, 4)
            self.cell = 8

        def _check(self, x):
            if x.ndim != 4:
                return
            H, W = x.shape[-2:]
            if H % self.cell != 0 or W % self.cell != 0:
                raise ValueError(f"Image size ({H}, {W}) must be divisible by {self.cell}")

        def _size(self, x):
            return x.shape[2] * 100 + x.shape[3]

        def forward(self, x: Union[torch.Tensor, Dict[str, torch.Tensor]]):
            self._check(x if not isinstance(x, dict) else x["patches"])
            s = self._size(x)
            return self.conv(x).mean((2, 3)) + s
"""


def test_shape_checks_of_the_input_before_its_first_layer(tmp_path):
    # the input handed, still undecided, to methods reading its shape in torch order
    # (timm's Gemma4 `_assert_raw_img_conformant`): decided channels-last by the conv
    # further down, the methods read channels-last positions
    header = "import torch\nimport torch.nn as nn\nfrom typing import Dict, Union\n\n\n"
    result = parity(SHAPE_CHECK, tmp_path, "Net", [rand(2, 3, 16, 24)], header=header)
    assert perm_of(result.layout_of("Net").takes["x"]) == (0, 2, 3, 1)


EINOPS_PATCHIFY = """
    from einops import rearrange


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4 * 4 * 3, 8)
            self.head = nn.Linear(8, 5)

        def forward(self, img):
            x = rearrange(img, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=4, p2=4)
            return self.head(self.proj(x).mean(1))
"""


def test_einops_patchify_makes_the_input_an_image(tmp_path):
    # no conv anywhere: the pattern's (h p1) (w p2) groups say the input is an image,
    # taken channels-last and the pattern rewritten for it (no transpose)
    result = parity(EINOPS_PATCHIFY, tmp_path, "Net", [rand(2, 3, 8, 12)])
    assert perm_of(result.layout_of("Net").takes["img"]) == (0, 2, 3, 1)
    assert "b (h p1) (w p2) c ->" in result.code and "jnp.transpose" not in result.code


EINOPS_PATCHIFY_LAYER = """
    from einops.layers.torch import Rearrange


    class Net(nn.Module):
        def __init__(self, image_size=(8, 12), patch=4, dim=8):
            super().__init__()
            # vit-pytorch's ViT: the patch embedding is a Rearrange layer first in a Sequential
            self.to_patch_embedding = nn.Sequential(
                Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch, p2=patch),
                nn.LayerNorm(patch * patch * 3),
                nn.Linear(patch * patch * 3, dim),
            )
            self.unpatch = Rearrange("b (h w) d -> b d h w", h=image_size[0] // patch)
            self.head = nn.Linear(dim, 5)

        def forward(self, img):
            x = self.to_patch_embedding(img)
            maps = self.unpatch(x)
            return self.head(x.mean(1)) + maps.mean((2, 3)).sum(1, keepdim=True)
"""


def test_einops_patchify_layer_makes_the_input_an_image(tmp_path):
    # the layer form: it takes the image channels-last, like a convolution, with its
    # pattern rewritten for it; it returns tokens in torch's order
    result = parity(EINOPS_PATCHIFY_LAYER, tmp_path, "Net", [rand(2, 3, 8, 12)])
    assert perm_of(result.layout_of("Net").takes["img"]) == (0, 2, 3, 1)
    assert "b (h p1) (w p2) c ->" in result.code and "jnp.transpose" not in result.code


RESHAPE_PATCHIFY = """
    def patchify(x, patch_size, pad: bool = True):
        B, C, H, W = x.shape
        ph, pw = patch_size
        if pad and (H % ph != 0 or W % pw != 0):
            x = F.pad(x, (0, (pw - W % pw) % pw, 0, (ph - H % ph) % ph))
            _, _, H, W = x.shape
        nh, nw = H // ph, W // pw
        patches = x.reshape(B, C, nh, ph, nw, pw).permute(0, 2, 4, 3, 5, 1)
        return patches.reshape(B, nh * nw, ph * pw * C), (nh, nw)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch_size = (4, 4)
            self.proj = nn.Linear(4 * 4 * 3, 8)
            self.head = nn.Linear(8, 5)

        def forward(self, x):
            x, grid = patchify(x, self.patch_size)
            return self.head(self.proj(x).mean(1)) * grid[1]
"""


def test_reshape_into_patches_makes_the_input_an_image(tmp_path):
    # NaFlexViT's batch_patchify: batch and channels kept, each spatial axis split
    # (padded first: the pad reads the input in torch order only provisionally)
    result = parity(RESHAPE_PATCHIFY, tmp_path, "Net", [rand(2, 3, 10, 12)])
    assert perm_of(result.layout_of("Net").takes["x"]) == (0, 2, 3, 1)


STARRED_SHAPE = """
    from einops import rearrange


    class Net(nn.Module):
        def __init__(self, heads=2):
            super().__init__()
            self.heads = heads
            self.conv = nn.Conv2d(3, 8, 1)
            self.out = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            x = self.conv(x)
            shape = x.shape
            # vit-pytorch's CvT: the shape unpacked inside a tuple display
            b, n, _, y, h = *shape, self.heads
            t = rearrange(x, "b (h d) x y -> (b h) (x y) d", h=h)
            t = t * n + b
            return self.out(rearrange(t, "(b h) (x y) d -> b (h d) x y", h=h, y=y))
"""


def test_shape_unpacked_in_a_tuple_display_reads_torch_positions(tmp_path):
    # `*shape` of a channels-last map inside a tuple: the names bind torch's sizes
    result = parity(STARRED_SHAPE, tmp_path, "Net", [rand(2, 3, 5, 7)])
    assert "for a in (0, 3, 1, 2)" in result.code


WINDOWS = """
    from einops import rearrange


    class WindowMix(nn.Module):
        # vit-pytorch's CrossFormer attention: a map cut into windows, mixed, put back
        def __init__(self, dim, wsz):
            super().__init__()
            self.wsz = wsz
            self.mix = nn.Conv2d(dim, dim, 1)

        def forward(self, x):
            *_, height, width = x.shape
            x = rearrange(x, "b d (h s1) (w s2) -> (b h w) d s1 s2", s1=self.wsz, s2=self.wsz)
            out = self.mix(x)
            return rearrange(out, "(b h w) d s1 s2 -> b d (h s1) (w s2)", h=height // self.wsz,
                             w=width // self.wsz)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 1)
            self.layers = nn.ModuleList([WindowMix(8, 2), WindowMix(8, 3)])
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            x = self.stem(x)
            for layer in self.layers:
                x = layer(x) + x
            return self.head(x)
"""


def test_windows_assembled_back_into_a_map_stay_channels_last(tmp_path):
    # the right side `b d (h s1) (w s2)` assembles an image: returned channels-last,
    # so the residual loop runs with no transpose
    result = parity(WINDOWS, tmp_path, "Net", [rand(2, 3, 6, 6)])
    assert "-> b (h s1) (w s2) d" in result.code and "jnp.transpose" not in result.code, result.code
