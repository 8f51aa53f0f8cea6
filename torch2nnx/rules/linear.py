"""Linear-type layers."""

from .base import ELEMENTWISE, PLAIN, PLAIN_SAME_RANK, Example, Rule, Unsupported, spatial, wmap
from .util import call, use_flag


def _linear(a, ctx):
    parts = [a.src("in_features"), a.src("out_features")]
    use_flag(parts, "use_bias", a, "bias")
    parts.append(f"rngs={ctx.rngs}")
    return call("nnx.Linear", parts)


def _embedding(a, ctx):
    if a.const("max_norm") is not None:
        raise Unsupported("T2N005", "max_norm renormalises rows in the forward pass; nnx.Embed has no equivalent")
    # padding_idx only changes torch's init and gradients; the ported table carries its zero row
    return call("nnx.Embed", [a.src("num_embeddings"), a.src("embedding_dim"), f"rngs={ctx.rngs}"])


def _dropout(broadcast):
    def build(a, ctx):
        parts = [a.src("p") if a.given("p") else "0.5"]
        if broadcast:
            parts.append(f"broadcast_dims={broadcast}")
        parts.append(f"rngs={ctx.rngs}")
        return f"nnx.Dropout({', '.join(parts)})"
    return build


RULES = [
    Rule("torch.nn.Dropout", "p=0.5, inplace=False", _dropout(None), layout=ELEMENTWISE, layer=True, stateful=True,
         examples=(Example("nn.Dropout(0.3)", ("float32[4,8]",), expect="nnx.Dropout(0.3, rngs=rngs)"),
                   Example("nn.Dropout()", ("float32[4,8]",)))),
    # whole channels dropped: on channels-last the broadcast dims are the spatial ones
    Rule("torch.nn.Dropout1d", "p=0.5, inplace=False", _dropout((1,)), layout=spatial(3), layer=True, stateful=True,
         examples=(Example("nn.Dropout1d(0.2)", ("float32[2,3,8]",)),)),
    Rule("torch.nn.Dropout2d", "p=0.5, inplace=False", _dropout((1, 2)), layout=spatial(4), layer=True,
         stateful=True, examples=(Example("nn.Dropout2d(0.2)", ("float32[2,3,4,4]",), expect="broadcast_dims=(1, 2)"),)),
    Rule("torch.nn.Dropout3d", "p=0.5, inplace=False", _dropout((1, 2, 3)), layout=spatial(5), layer=True,
         stateful=True, examples=(Example("nn.Dropout3d(0.2)", ("float32[2,3,2,4,4]",)),)),
    Rule(
        "torch.nn.Linear", "in_features, out_features, bias=True, device=None, dtype=None",
        _linear, layout=PLAIN_SAME_RANK, layer=True, stateful=True,
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
        attrs=(("embedding_dim", "features"),),
        examples=(
            Example("nn.Embedding(20, 6)", ("int32[2,5]:0:20",)),
            Example("nn.Embedding(20, 6, padding_idx=0)", ("int32[2,5]:0:20",)),
        ),
    ),
]
