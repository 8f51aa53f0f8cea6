"""F.grid_sample and F.affine_grid (spatial transformers, optical-flow warps,
deformable sampling): runtime helpers (runtime/sampling.py) over channels-last
images. The grid is torch's (N, *out, n) in either framework: its last axis holds
coordinates, not channels, so it reaches the helper in torch's order."""

from .base import Example, Layout, Rule, Unsupported
from .util import call

_MODES = ("bilinear", "nearest")
_PADDING = ("zeros", "border", "reflection")


def _grid_sample(a, ctx):
    mode, pad = a.value("mode"), a.value("padding_mode")
    if isinstance(mode, str) and mode not in _MODES:
        raise Unsupported("T2N002", f"grid_sample mode={mode!r} (bilinear and nearest are translated)")
    if isinstance(pad, str) and pad not in _PADDING:
        raise Unsupported("T2N002", f"grid_sample padding_mode={pad!r}")
    parts = [a.src("input"), a.src("grid")]
    parts += [f"{n}={a.src(n)}" for n in ("mode", "padding_mode", "align_corners") if a.given(n)]
    return call(ctx.helper("grid_sample"), parts)


def _affine_grid(a, ctx):
    parts = [a.src("theta"), a.src("size")]
    if a.given("align_corners"):
        parts.append(f"align_corners={a.src('align_corners')}")
    return call(ctx.helper("affine_grid"), parts)


_IMG = "float32[2,3,5,7]"
_GRID = "float32[2,4,6,2]"  # normal draws: some coordinates fall outside [-1, 1]

RULES = [
    Rule("torch.nn.functional.grid_sample",
         "input, grid, mode='bilinear', padding_mode='zeros', align_corners=None", _grid_sample,
         layout=Layout("spatial_any", tensors=("input", "grid")),
         examples=(Example("F.grid_sample(x, y)", (_IMG, _GRID), expect="grid_sample(x, y)"),
                   Example("F.grid_sample(x, y, align_corners=True)", (_IMG, _GRID)),
                   Example("F.grid_sample(x, y, mode='nearest', align_corners=False)", (_IMG, _GRID)),
                   Example("F.grid_sample(x, y, padding_mode='border', align_corners=False)", (_IMG, _GRID)),
                   Example("F.grid_sample(x, y, padding_mode='reflection', align_corners=False)",
                           (_IMG, "float32[2,4,6,2]")),
                   Example("F.grid_sample(x, y * 2, padding_mode='reflection', align_corners=True)", (_IMG, _GRID)),
                   # both inputs channels-last tagged: the grid goes back to torch's order
                   Example("F.grid_sample(x, y.permute(0, 2, 3, 1), align_corners=False)",
                           (_IMG, "float32[2,2,6,4]"), channels_last=True),
                   # rank 5: trilinear over (D, H, W), coordinates (x, y, z)
                   Example("F.grid_sample(x, y, align_corners=False)", ("float32[2,3,4,5,6]", "float32[2,3,2,4,3]"),
                           channels_last=True),
                   Example("F.grid_sample(x, y, mode='nearest', padding_mode='border', align_corners=True)",
                           ("float32[1,2,4,5,6]", "float32[1,3,2,4,3]"), channels_last=True))),
    Rule("torch.nn.functional.affine_grid", "theta, size, align_corners=None", _affine_grid,
         layout=Layout("plain", tensors=("theta",), sizes=("size",)),
         examples=(Example("F.affine_grid(x, (2, 3, 5, 7), align_corners=False)", ("float32[2,2,3]",)),
                   Example("F.affine_grid(x, [2, 3, 4, 1], align_corners=True)", ("float32[2,2,3]",)),
                   Example("F.affine_grid(x, (1, 2, 3, 4, 5), align_corners=False)", ("float32[1,3,4]",)),
                   Example("F.grid_sample(y, F.affine_grid(x, y.shape, align_corners=False), align_corners=False)",
                           ("float32[2,2,3]", "float32[2,3,5,7]"), channels_last=True))),
]
