"""Functional ops that sequence models use (issue 6): rms_norm (layer_norm is in functional.py)."""

from .base import OTHER, Example, Layout, Rule, wmap
from .util import call


def _norm(helper, names):
    def build(a, ctx):
        parts = [a.src("input"), a.src("normalized_shape")]
        for n in names:
            if a.given(n):
                parts.append(f"{n}={a.src(n)}")
        return call(ctx.helper(helper), parts)
    return build


RULES = [
    Rule("torch.nn.functional.rms_norm", "input, normalized_shape, weight=None, eps=None",
         _norm("rms_norm", ("weight", "eps")), layout=Layout("plain", tensors=("input", "weight")),
         examples=(Example("F.rms_norm(x, [8], y, eps=1e-6)", ("float32[2,5,8]", "float32[8]")),
                   Example("F.rms_norm(x, (8,))", ("float32[3,8]",)))),
]

# weight tying (``dst.weight = src.weight`` between two layers of a module) -> runtime tie_weights
TIED_WEIGHT_NAMES = ("weight",)
TIED_LINEAR_WEIGHTS = wmap("TiedLinear", ("weight", "weight"), ("bias", "bias", None, True))

# tensor properties
PROPERTIES = [
    # devices are dropped everywhere (device= arguments, .to(device)); a jax
    # tracer has no .device, so the value reads as torch's CPU device (TorchDevice:
    # `x.device.type` is 'cpu', whatever device jax runs on)
    Rule("Tensor.device", "input", lambda a, ctx: f'{ctx.helper("TorchDevice")}()', layout=OTHER,
         examples=(Example("torch.arange(4, device=x.device) + x", ("float32[2,4]",)),
                   Example("x * 2 if x.device.type != 'meta' else x", ("float32[2,4]",)))),
]
