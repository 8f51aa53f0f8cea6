"""Layout conversions of values that may be None (optional_values.py): timm's
MViTv2 ``reshape_pre_pool`` returns ``x, cls_tok`` with ``cls_tok = None``
when the model has no class token; the layout pass transposes the token where
it is returned or handed on (``reshape_post_pool(q, heads, q_tok)``), and a
transpose of None raised. A conversion of a local the code shows may be None
is guarded: None stays None. Compared with torch eagerly and under ``nnx.jit``,
with and without the token."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = textwrap.dedent("""
    from typing import List, Optional, Tuple

    import torch
    import torch.nn as nn


    def reshape_pre_pool(
            x,
            feat_size: List[int],
            has_cls_token: bool = True
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        H, W = feat_size
        if has_cls_token:
            cls_tok, x = x[:, :, :1, :], x[:, :, 1:, :]
        else:
            cls_tok = None
        x = x.reshape(-1, H, W, x.shape[-1]).permute(0, 3, 1, 2).contiguous()
        return x, cls_tok


    def reshape_post_pool(
            x,
            num_heads: int,
            cls_tok: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, List[int]]:
        feat_size = [x.shape[2], x.shape[3]]
        L_pooled = x.shape[2] * x.shape[3]
        x = x.reshape(-1, num_heads, x.shape[1], L_pooled).transpose(2, 3)
        if cls_tok is not None:
            x = torch.cat((cls_tok, x), dim=2)
        return x, feat_size


    class PoolAttention(nn.Module):
        def __init__(self, dim=12, num_heads=2, has_cls_token=True, feat_size=(4, 4)):
            super().__init__()
            self.num_heads = num_heads
            self.head_dim = dim // num_heads
            self.scale = self.head_dim ** -0.5
            self.has_cls_token = has_cls_token
            self.feat_size = list(feat_size)
            self.qkv = nn.Linear(dim, dim * 3)
            self.pool_q = nn.Conv2d(self.head_dim, self.head_dim, 3, stride=2, padding=1,
                                    groups=self.head_dim, bias=False)
            self.norm_q = nn.LayerNorm(self.head_dim)
            self.pool_k = nn.Conv2d(self.head_dim, self.head_dim, 3, stride=2, padding=1,
                                    groups=self.head_dim, bias=False)
            self.norm_k = nn.LayerNorm(self.head_dim)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            B, N, _ = x.shape
            qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(dim=0)
            q, q_tok = reshape_pre_pool(q, self.feat_size, self.has_cls_token)
            q = self.pool_q(q)
            q, q_size = reshape_post_pool(q, self.num_heads, q_tok)
            q = self.norm_q(q)
            k, k_tok = reshape_pre_pool(k, self.feat_size, self.has_cls_token)
            k = self.pool_k(k)
            k, k_size = reshape_post_pool(k, self.num_heads, k_tok)
            k = self.norm_k(k)
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            v = v[:, :, :k.shape[2]]
            x = (attn @ v).transpose(1, 2).reshape(B, -1, self.num_heads * self.head_dim)
            return self.proj(x)
""")


@pytest.mark.parametrize("has_cls_token", [True, False])
def test_optional_token_keeps_none_through_layout_conversions(tmp_path, has_cls_token):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert result.todo_count == 0, result.code
    assert "is not None else None" in result.code, result.code  # a guarded conversion
    n = 16 + (1 if has_cls_token else 0)
    x = np.random.default_rng(0).standard_normal((2, n, 12)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "PoolAttention", [x], kwargs={"has_cls_token": has_cls_token}, jit=True)


MIX = '''
import torch
import torch.nn as nn


class Mix(nn.Module):
    def __init__(self, c=4, vertical=True):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.with_vertical = vertical
        self.fc = nn.Linear(c, c)

    def forward(self, x):
        x = self.conv(x).permute(0, 2, 3, 1)
        B, H, W, C = x.shape
        if self.with_vertical:
            v = x.permute(0, 2, 1, 3)
            v = v.reshape(-1, H, C)
            v = self.fc(v)
            v = v.reshape(B, W, H, -1)
            v = v.permute(0, 2, 1, 3)
        else:
            v = None
        if v is not None:
            x = x + v
        return x.permute(0, 3, 1, 2)
'''


def test_a_guarded_conversion_is_the_base_of_a_method_call(tmp_path):
    """timm's sequencer (RNN2dBase): ``v = x.permute(...)`` then ``v.reshape(...)``
    where ``v`` may be None elsewhere: the None-keeping conversion
    (``... if v is not None else None``) is parenthesized before ``.reshape``
    (it became ``... else None.reshape(...)``, a call on None)."""
    import numpy as np

    from harness import run_parity, translate_files

    result, tmod, jmod, wmod = translate_files(MIX, tmp_path)
    assert "None.reshape" not in result.code, result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6)).astype(np.float32)
    for vertical in (True, False):
        run_parity(result, tmod, jmod, wmod, "Mix", [x], kwargs={"vertical": vertical})
        run_parity(result, tmod, jmod, wmod, "Mix", [x], kwargs={"vertical": vertical}, jit=True)
