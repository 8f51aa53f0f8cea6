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


INIT_SHAPES = """
    class GRN(nn.Module):
        def __init__(self, dim, channels_last=True):
            super().__init__()
            if channels_last:
                self.spatial_dim = (1, 2)
                self.channel_dim = -1
                self.wb_shape = (1, 1, 1, -1)
            else:
                self.spatial_dim = (2, 3)
                self.channel_dim = 1
                self.wb_shape = (1, -1, 1, 1)
            self.weight = nn.Parameter(torch.zeros(dim))
            self.bias = nn.Parameter(torch.zeros(dim))

        def forward(self, x):
            x_g = x.norm(p=2, dim=self.spatial_dim, keepdim=True)
            x_n = x_g / (x_g.mean(dim=self.channel_dim, keepdim=True) + 1e-6)
            return x + torch.addcmul(self.bias.view(self.wb_shape), self.weight.view(self.wb_shape), x * x_n)


    class Scale(nn.Module):
        def __init__(self, dim, use_nchw=True):
            super().__init__()
            self.shape = (dim, 1, 1) if use_nchw else (dim,)
            self.scale = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return x * self.scale.view(self.shape)


    class ImageNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.grn = GRN(8, channels_last=False)
            self.scale = Scale(8)
            self.proj = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            return self.proj(self.scale(self.grn(self.conv(x))))


    class TokenNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 8)
            self.grn = GRN(8)
            self.scale = Scale(8, use_nchw=False)

        def forward(self, x):
            return self.scale(self.grn(self.fc(x)))
"""


def test_init_shapes_on_image_batches(tmp_path):
    """Per-channel views to shapes set in __init__ (metaformer's Scale, ConvNeXt-V2's
    GRN with channels_last=False) next to a channels-last image batch."""
    result = parity(INIT_SHAPES, tmp_path, "ImageNet", [rand(2, 3, 6, 5)])
    assert "torch_broadcast_cl" in result.code


def test_init_shapes_on_tokens(tmp_path):
    """The same layers on NHWC token tensors (use_nchw=False) stay in torch's order."""
    parity(INIT_SHAPES, tmp_path, "TokenNet", [rand(2, 4, 6, 5)])


ADDCMUL = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.a = nn.Parameter(torch.zeros(8, 1, 1))
            self.b = nn.Parameter(torch.ones(8, 1, 1))

        def forward(self, x):
            x = self.conv(x)
            return torch.addcmul(self.a, self.b, x)
"""


def test_addcmul_operands_meet_the_joint_layout(tmp_path):
    parity(ADDCMUL, tmp_path, "Net", [rand(2, 3, 6, 5)])
