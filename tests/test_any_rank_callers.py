"""One plain function handed a channels-last image batch by one caller and a
tensor of unknown rank by another (torchvision's MViT: ``_unsqueeze(x, 5, 2)``
on the video before the patch conv, ``_unsqueeze(x, 4, 1)`` in ``Pool`` on
(B, heads, N, C) or (B, N, C) tokens; issue 12). The function's summary takes
the image; before, the token caller paid the image's rank-5 transpose (``axis 4
is out of bounds``). Now the function is marked as running on other ranks too
(any_rank.joins_unknown_rank): its moves and the token caller's transpose apply
only at the image's rank.

Around it, two more mechanisms MViT's pooling needs: a held permutation of
attention heads ((0, 2, 1, 3)) handed to that ``Pool`` asks none of the
caller's own parameters to be an image (ExpressionsMixin.ask_image), and a
pooling layer held in a slot (``self.pool = pool``, a MaxPool3d / AvgPool3d)
and handed a torch-order map pools its spatial axes (runtime helper
``torch_order_layer``). Torch vs NNX, perturbed weights, outputs and input
gradients, eager and nnx.jit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import input_grads, perm_of, run_parity, translate_files

torch.set_num_threads(1)

HELPERS = '''
import torch
from torch import nn


def _unsqueeze(x: torch.Tensor, target_dim: int, expand_dim: int) -> tuple[torch.Tensor, int]:
    tensor_dim = x.dim()
    if tensor_dim == target_dim - 1:
        x = x.unsqueeze(expand_dim)
    elif tensor_dim != target_dim:
        raise ValueError(f"Unsupported input dimension {x.shape}")
    return x, tensor_dim


def _squeeze(x: torch.Tensor, target_dim: int, expand_dim: int, tensor_dim: int) -> torch.Tensor:
    if tensor_dim == target_dim - 1:
        x = x.squeeze(expand_dim)
    return x


class Pool(nn.Module):
    def __init__(self, pool: nn.Module):
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor, thw: tuple[int, int, int]) -> torch.Tensor:
        x, tensor_dim = _unsqueeze(x, 4, 1)
        class_token, x = x[:, :, :1], x[:, :, 1:]
        x = x.transpose(2, 3)
        B, N, C = x.shape[:3]
        x = x.reshape((B * N, C) + thw)
        x = self.pool(x)
        x = x.reshape(B, N, C, -1).transpose(2, 3)
        x = torch.cat((class_token, x), dim=2)
        return _squeeze(x, 4, 1, tensor_dim)
'''

# the image and the tokens (rank unknown after the class token's cat) share _unsqueeze
SHARED = HELPERS + '''

class Net(nn.Module):
    def __init__(self, c: int = 8, pool: str = "max"):
        super().__init__()
        self.proj = nn.Conv3d(3, c, 2, stride=2)
        self.class_token = nn.Parameter(torch.zeros(c))
        layer = nn.MaxPool3d(3, 1, 1) if pool == "max" else nn.AvgPool3d((1, 3, 3), 1, (0, 1, 1), count_include_pad=False)
        self.pool_skip = Pool(layer)
        self.head = nn.Linear(c, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _unsqueeze(x, 5, 2)[0]  # (B, C, T, H, W), or (B, C, H, W) made one
        x = self.proj(x)
        thw = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat((self.class_token.expand(x.size(0), -1).unsqueeze(1), x), dim=1)
        x = self.pool_skip(x, thw)
        return self.head(x[:, 0] + x[:, 1:].mean(1))
'''

# Pool handed attention heads held permuted (0, 2, 1, 3) and a block's (B, N, C) tokens
HEADS = HELPERS + '''

class Attention(nn.Module):
    def __init__(self, c: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(c, 3 * c)
        self.pool_k = Pool(nn.Conv3d(c // heads, c // heads, 3, padding=1, groups=c // heads))
        self.proj = nn.Linear(c, c)

    def forward(self, x: torch.Tensor, thw: tuple[int, int, int]) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).transpose(1, 3).unbind(dim=2)
        k = self.pool_k(k, thw)
        attn = (q @ k.transpose(2, 3)).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Block(nn.Module):
    def __init__(self, c: int, heads: int):
        super().__init__()
        self.attn = Attention(c, heads)
        self.pool_skip = Pool(nn.MaxPool3d(3, 1, 1))
        self.norm = nn.LayerNorm(c)

    def forward(self, x: torch.Tensor, thw: tuple[int, int, int]) -> tuple[torch.Tensor, tuple[int, int, int]]:
        return self.pool_skip(x, thw) + self.attn(self.norm(x), thw), thw


class Net(nn.Module):
    def __init__(self, c: int = 8, heads: int = 2):
        super().__init__()
        self.proj = nn.Conv3d(3, c, 2, stride=2)
        self.blocks = nn.ModuleList([Block(c, heads) for _ in range(2)])
        self.head = nn.Linear(c, 5)
        self.class_token = nn.Parameter(torch.zeros(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _unsqueeze(x, 5, 2)[0]
        x = self.proj(x)
        thw = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat((self.class_token.expand(x.size(0), -1).unsqueeze(1), x), dim=1)
        for block in self.blocks:
            x, thw = block(x, thw)
        return self.head(x[:, 0])
'''


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_function_shared_by_an_image_and_tokens_of_unknown_rank(tmp_path, pool):
    result, tmod, jmod, wmod = translate_files(SHARED, tmp_path)
    code = result.code
    # the image goes in channels-last; the tokens' move happens only at the image's rank
    assert perm_of(result.layout_of("Net").takes.get("x")) == (0, 2, 3, 4, 1), code
    assert "map_order(x, (0, 2, 3, 4, 1))" in code and "torch_order(x, (0, 4, 1, 2, 3))" in code, code
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 8, 8)).astype(np.float32)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [x], kwargs={"pool": pool}, jit=jit)
    if pool == "max":
        for jit in (False, True):
            t_grad, j_grad = input_grads(result, tmod, jmod, wmod, "Net", x, jit=jit)
            np.testing.assert_allclose(j_grad, t_grad, rtol=1e-4, atol=1e-4)


def test_held_head_permutation_asks_no_image(tmp_path):
    result, tmod, jmod, wmod = translate_files(HEADS, tmp_path)
    assert "(0, 2, 1, 3))" not in result.code.split("class Pool")[1].split("class Attention")[0], result.code
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 8, 8)).astype(np.float32)
    for jit in (False, True):
        run_parity(result, tmod, jmod, wmod, "Net", [x], jit=jit)
        t_grad, j_grad = input_grads(result, tmod, jmod, wmod, "Net", x, jit=jit)
        np.testing.assert_allclose(j_grad, t_grad, rtol=1e-4, atol=1e-4)
