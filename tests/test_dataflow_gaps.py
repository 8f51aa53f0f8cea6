"""Dataflow gaps of the layout analysis found on timm: branches that end
(return/raise/continue/break) do not flow into the code after them; a shape
read before its tensor's layout is decided agrees with the tensor's later uses;
per-channel shapes computed in ``__init__``. Each case: torch vs NNX, perturbed
weights, eval and nnx.jit."""

from __future__ import annotations

import numpy as np

from test_layout_forward import parity


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


RETURNING_BRANCH = """
    fused_rms_norm = None
    has_fused = False


    def rms_norm2d(x, weight, eps: float = 1e-5):
        v = torch.mean(x.pow(2), dim=1, keepdim=True)
        x = x * torch.rsqrt(v + eps)
        return x * weight.reshape(1, -1, 1, 1)


    def fast_rms_norm2d(x, weight, eps: float = 1e-5):
        if has_fused:
            x = x.permute(0, 2, 3, 1)
            x = fused_rms_norm(x, weight, eps)
            x = x.permute(0, 3, 1, 2)
            return x
        x = rms_norm2d(x, weight, eps)
        return x


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.weight = nn.Parameter(torch.ones(8))
            self.proj = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            x = fast_rms_norm2d(self.conv(x), self.weight)
            return self.proj(x)
"""


def test_returning_branch_does_not_join(tmp_path):
    result = parity(RETURNING_BRANCH, tmp_path, "Net", [rand(2, 3, 6, 5)])
    src = result.code
    body = src[src.index("def rms_norm2d"):src.index("class Net")]
    # only the never-taken fused branch hands x to unseen code in torch order
    assert body.count("jnp.transpose") == 2, body


LOOP_EXITS = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.proj = nn.Conv2d(8, 4, 1)

        def forward(self, x, n: int = 3):
            x = self.conv(x)
            for i in range(n):
                if i == 1:
                    y = x.permute(0, 2, 3, 1)
                    x = x + y.mean(-1)[:, None]
                    continue
                x = x * 0.5
            return self.proj(x)
"""


def test_continue_joins_the_loop(tmp_path):
    parity(LOOP_EXITS, tmp_path, "Net", [rand(2, 3, 6, 5)])
