"""Linear-type layers."""

from .base import PLAIN, Example, Rule, Unsupported, wmap
from .util import call, use_flag


def _linear(a, ctx):
    parts = [a.src("in_features"), a.src("out_features")]
    use_flag(parts, "use_bias", a, "bias")
    parts.append(f"rngs={ctx.rngs}")
    return call("nnx.Linear", parts)


def _embedding(a, ctx):
    if a.given("max_norm") and a.lit("max_norm", 0) is not None:
        raise Unsupported("T2N005", "max_norm renormalises rows in the forward pass; nnx.Embed has no equivalent")
    # padding_idx only changes torch's init and gradients; the ported table carries its zero row
    return call("nnx.Embed", [a.src("num_embeddings"), a.src("embedding_dim"), f"rngs={ctx.rngs}"])


RULES = [
    Rule(
        "torch.nn.Linear", "in_features, out_features, bias=True, device=None, dtype=None",
        _linear, layout=PLAIN, layer=True, stateful=True,
        weights=wmap("nnx.Linear", ("weight", "kernel", "linear_kernel"), ("bias", "bias", None, True)),
        examples=(
            Example("nn.Linear(3, 4)", ("float32[2,3]",), expect="nnx.Linear(3, 4, rngs=rngs)"),
            Example("nn.Linear(6, 5, bias=False)", ("float32[2,7,6]",), expect="use_bias=False"),
        ),
    ),
    Rule(
        "torch.nn.Embedding",
        "num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0, "
        "scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None",
        _embedding, layout=PLAIN, layer=True, stateful=True,
        weights=wmap("nnx.Embed", ("weight", "embedding")),
        examples=(
            Example("nn.Embedding(20, 6)", ("int32[2,5]:0:20",)),
            Example("nn.Embedding(20, 6, padding_idx=0)", ("int32[2,5]:0:20",)),
        ),
    ),
]
