"""Attention and transformer layers (issue 6): nn.MultiheadAttention,
F.scaled_dot_product_attention, nn.TransformerEncoderLayer / Encoder.

nnx_facts §9: nnx.MultiHeadAttention differs from torch in argument order, mask
polarity (torch's bool True = masked out), returned weights and dropout
broadcasting, so the rows build torch-semantics helpers (runtime/helpers.py)
that keep torch's arguments, call signature, tuple return and parameter names.
"""

from .base import NOT_CONSTANT, PLAIN, Example, Layout, Rule, Unsupported, wmap
from .linear import RULES as _LINEAR_RULES
from .norm import _NORM_W
from .util import call

_LINEAR_W = next(r.weights for r in _LINEAR_RULES if r.name == "torch.nn.Linear")

MHA_WEIGHTS = wmap(
    "TorchMultiheadAttention",
    ("in_proj_weight", "in_proj_weight", None, True),
    ("q_proj_weight", "q_proj_weight", None, True),
    ("k_proj_weight", "k_proj_weight", None, True),
    ("v_proj_weight", "v_proj_weight", None, True),
    ("in_proj_bias", "in_proj_bias", None, True),
    ("out_proj.weight", "out_proj.kernel", "linear_kernel"),
    ("out_proj.bias", "out_proj.bias", None, True),
)
# walked through like a translated class: its inner layers have rows
ENCODER_LAYER_WEIGHTS = wmap("TorchTransformerEncoderLayer", requires=(MHA_WEIGHTS, _LINEAR_W, _NORM_W))
ENCODER_WEIGHTS = wmap("TorchTransformerEncoder", requires=(_NORM_W,))
DECODER_LAYER_WEIGHTS = wmap("TorchTransformerDecoderLayer", requires=(MHA_WEIGHTS, _LINEAR_W, _NORM_W))
DECODER_WEIGHTS = wmap("TorchTransformerDecoder", requires=(_NORM_W,))
TRANSFORMER_WEIGHTS = wmap("TorchTransformer", requires=(MHA_WEIGHTS, _LINEAR_W, _NORM_W))


def _passthrough(helper, params, reject=()):
    """A helper with torch's own signature: the arguments as given, plus rngs."""
    names = [(p.split("=")[0].strip(), "=" in p) for p in params.split(",")]

    def build(a, ctx):
        for name, why in reject:
            v = a.value(name)
            if a.given(name) and (v is NOT_CONSTANT or v is not False):
                raise Unsupported("T2N005", f"{name}={a.src(name)}: {why}")
        parts = []
        for n, optional in names:  # required arguments by position, the others by name
            if n not in ("device", "dtype") and a.given(n):
                parts.append(f"{n}={a.src(n)}" if optional else a.src(n))
        parts.append(f"rngs={ctx.rngs}")
        return call(ctx.helper(helper), parts)
    return build


_MHA_SIG = ("embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False, kdim=None, "
            "vdim=None, batch_first=False, device=None, dtype=None")
_ENC_LAYER_SIG = ("d_model, nhead, dim_feedforward=2048, dropout=0.1, activation='relu', layer_norm_eps=1e-05, "
                  "batch_first=False, norm_first=False, bias=True, device=None, dtype=None")
_ENC_SIG = "encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True"
_DEC_SIG = "decoder_layer, num_layers, norm=None"
_TRANSFORMER_SIG = ("d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048, "
                    "dropout=0.1, activation='relu', custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-05, "
                    "batch_first=False, norm_first=False, bias=True, device=None, dtype=None")


def _square_mask(a, ctx):
    parts = [a.src("sz")] + ([f"dtype={a.src('dtype')}"] if a.given("dtype") else [])
    return call(ctx.helper("generate_square_subsequent_mask"), parts)


def _sdpa(a, ctx):
    parts = [a.src("query"), a.src("key"), a.src("value")]
    for n in ("attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"):
        if a.given(n):
            parts.append(f"{n}={a.src(n)}")
    p = a.value("dropout_p")
    if a.given("dropout_p") and (p is NOT_CONSTANT or p != 0):
        # dropout on the attention weights draws from the module's own rngs in training mode
        rngs = ctx.module_rngs()
        parts.append(f"rngs={rngs}")
    return call(ctx.helper("scaled_dot_product_attention"), parts)


_MASK_NOTE = "bool masks: True = masked out, as in torch; float masks are added"
_SDPA_NOTE = "bool masks: True = attend (not inverted); float masks are added"

RULES = [
    Rule("torch.nn.MultiheadAttention", _MHA_SIG,
         _passthrough("TorchMultiheadAttention", _MHA_SIG,
                      reject=(("add_bias_kv", "learned key/value bias rows"),
                              ("add_zero_attn", "an extra zero key/value row"))),
         layout=Layout("plain", tensors=("query", "key", "value")), layer=True, stateful=True,
         weights=MHA_WEIGHTS, note=_MASK_NOTE,
         examples=(
             Example("nn.MultiheadAttention(16, 4)", ("float32[5,2,16]",), call="self.layer(x, x, x)[0]"),
             Example("nn.MultiheadAttention(16, 4, batch_first=True)", ("float32[2,5,16]", "float32[2,7,16]",
                                                                       "bool[2,7]"),
                     call="self.layer(x, y, y, key_padding_mask=z & (torch.arange(7) > 0))"),
             Example("nn.MultiheadAttention(16, 2, kdim=6, vdim=6, batch_first=True)",
                     ("float32[2,5,16]", "float32[2,7,6]"),
                     call="self.layer(x, y, y, attn_mask=torch.ones(5, 7).triu(1).bool(), "
                          "average_attn_weights=False)"),
             Example("nn.MultiheadAttention(8, 2, bias=False, dropout=0.1)", ("float32[4,8]",),
                     call="self.layer(x, x, x, need_weights=False)[0]"),
         )),
    Rule("torch.nn.TransformerEncoderLayer", _ENC_LAYER_SIG,
         _passthrough("TorchTransformerEncoderLayer", _ENC_LAYER_SIG),
         layout=PLAIN, layer=True, stateful=True, weights=ENCODER_LAYER_WEIGHTS, note=_MASK_NOTE,
         examples=(
             Example("nn.TransformerEncoderLayer(16, 4, dim_feedforward=32)", ("float32[5,2,16]",)),
             Example("nn.TransformerEncoderLayer(16, 2, 24, dropout=0.0, activation='gelu', batch_first=True, "
                     "norm_first=True)", ("float32[2,5,16]", "bool[2,5]"),
                     call="self.layer(x, src_key_padding_mask=y & (torch.arange(5) > 0))"),
         )),
    Rule("torch.nn.TransformerEncoder", _ENC_SIG, _passthrough("TorchTransformerEncoder", _ENC_SIG),
         layout=PLAIN, layer=True, stateful=True, weights=ENCODER_WEIGHTS,
         examples=(
             Example("nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), 2, "
                     "norm=nn.LayerNorm(16))", ("float32[2,5,16]",)),
         )),
    Rule("torch.nn.TransformerDecoderLayer", _ENC_LAYER_SIG,
         _passthrough("TorchTransformerDecoderLayer", _ENC_LAYER_SIG),
         layout=Layout("plain", tensors=("tgt", "memory")), layer=True, stateful=True,
         weights=DECODER_LAYER_WEIGHTS, note=_MASK_NOTE,
         examples=(
             Example("nn.TransformerDecoderLayer(16, 4, dim_feedforward=32)", ("float32[5,2,16]", "float32[7,2,16]"),
                     call="self.layer(x, y, tgt_mask=nn.Transformer.generate_square_subsequent_mask(5))"),
             Example("nn.TransformerDecoderLayer(16, 2, 24, dropout=0.0, activation=F.gelu, batch_first=True, "
                     "norm_first=True)", ("float32[2,5,16]", "float32[2,7,16]", "bool[2,7]"),
                     call="self.layer(x, y, memory_key_padding_mask=z & (torch.arange(7) > 0), tgt_is_causal=True, "
                          "tgt_mask=torch.ones(5, 5).triu(1).bool())"),
         )),
    Rule("torch.nn.TransformerDecoder", _DEC_SIG, _passthrough("TorchTransformerDecoder", _DEC_SIG),
         layout=Layout("plain", tensors=("tgt", "memory")), layer=True, stateful=True, weights=DECODER_WEIGHTS,
         examples=(
             Example("nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 4, 32, batch_first=True), 2, "
                     "norm=nn.LayerNorm(16))", ("float32[2,5,16]", "float32[2,6,16]"), call="self.layer(x, y)"),
         )),
    Rule("torch.nn.Transformer", _TRANSFORMER_SIG,
         _passthrough("TorchTransformer", _TRANSFORMER_SIG,
                      reject=(("custom_encoder", "a custom encoder module"), ("custom_decoder", "a custom decoder module"))),
         layout=Layout("plain", tensors=("src", "tgt")), layer=True, stateful=True, weights=TRANSFORMER_WEIGHTS,
         note=_MASK_NOTE,
         examples=(
             Example("nn.Transformer(16, 4, 2, 2, 32, batch_first=True)", ("float32[2,6,16]", "float32[2,5,16]"),
                     call="self.layer(x, y, tgt_mask=nn.Transformer.generate_square_subsequent_mask(5))"),
             Example("nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, "
                     "dim_feedforward=16, dropout=0.0)", ("float32[6,2,8]", "float32[5,2,8]"),
                     call="self.layer(x, y)"),
         )),
    Rule("torch.nn.Transformer.generate_square_subsequent_mask", "sz, device=None, dtype=None", _square_mask,
         layout=Layout("source"),
         examples=(Example("nn.Transformer.generate_square_subsequent_mask(4) + x", ("float32[4,4]",)),)),
    Rule("torch.nn.functional.scaled_dot_product_attention",
         "query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False",
         _sdpa, layout=Layout("plain", tensors=("query", "key", "value", "attn_mask")), note=_SDPA_NOTE,
         examples=(
             Example("F.scaled_dot_product_attention(x, y, y)", ("float32[2,3,5,8]", "float32[2,3,7,8]")),
             Example("F.scaled_dot_product_attention(x, y, y, attn_mask=z)",
                     ("float32[2,3,5,8]", "float32[2,3,7,8]", "bool[5,7]")),
             Example("F.scaled_dot_product_attention(x, x, x, is_causal=True, scale=0.3)", ("float32[2,3,5,8]",)),
             Example("F.scaled_dot_product_attention(x, y, y, is_causal=True, enable_gqa=True)",
                     ("float32[2,4,5,8]", "float32[2,2,5,8]")),
         )),
]
