"""Values whose layout is decided at a control-flow join: a number on one path,
a channels-last map on another (``out = 0``, then a branch that may be absent or
a loop summing branches: timm's MobileOne / FastViT reparameterizable blocks,
FocalNet's context aggregation). The value has the map's layout; before, the
join was unknown, read as torch order, and the other branches were transposed
to torch order next to channels-last data. Torch vs NNX, perturbed weights,
eval and nnx.jit."""

from __future__ import annotations

from test_layout_forward import parity, rand

SCALAR_JOINS = """
    class RepBlock(nn.Module):
        def __init__(self, c, n=2, use_id=True, use_scale=True):
            super().__init__()
            self.identity = nn.BatchNorm2d(c) if use_id else None
            self.conv_scale = nn.Sequential(nn.Conv2d(c, c, 1), nn.BatchNorm2d(c)) if use_scale else None
            self.conv_kxk = nn.ModuleList(
                [nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)) for _ in range(n)])
            self.act = nn.ReLU()

        def forward(self, x):
            identity_out = 0
            if self.identity is not None:
                identity_out = self.identity(x)
            scale_out = 0
            if self.conv_scale is not None:
                scale_out = self.conv_scale(x)
            out = scale_out + identity_out
            for ck in self.conv_kxk:
                out += ck(x)
            return self.act(out)


    class Focal(nn.Module):
        def __init__(self, c, levels=2):
            super().__init__()
            self.levels = levels
            self.c = c
            self.f = nn.Conv2d(c, 2 * c + levels + 1, 1)
            self.layers = nn.ModuleList([nn.Conv2d(c, c, 3, padding=1, groups=c) for _ in range(levels)])
            self.h = nn.Conv2d(c, c, 1)

        def forward(self, x):
            x = self.f(x)
            q, ctx, gates = torch.split(x, (self.c, self.c, self.levels + 1), 1)
            ctx_all = 0
            for l, layer in enumerate(self.layers):
                ctx = layer(ctx)
                ctx_all = ctx_all + ctx * gates[:, l:l + 1]
            ctx_global = F.gelu(ctx.mean(2, keepdim=True).mean(3, keepdim=True))
            ctx_all = ctx_all + ctx_global * gates[:, self.levels:]
            return q * self.h(ctx_all)
"""


def test_number_or_map_summed_over_branches(tmp_path):
    result = parity(SCALAR_JOINS, tmp_path, "RepBlock", [rand(2, 4, 6, 5)], kwargs={"c": 4})
    body = result.code.split("class RepBlock")[1].split("class Focal")[0]
    assert "jnp.transpose" not in body  # the branches meet channels-last


def test_number_or_map_accumulated_in_a_loop(tmp_path):
    result = parity(SCALAR_JOINS, tmp_path, "Focal", [rand(2, 4, 6, 5)], kwargs={"c": 4})
    assert "jnp.transpose" not in result.code.split("class Focal")[1]
