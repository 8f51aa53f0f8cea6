"""torch2nnx rows for mylib (README "Rules users add"): ``RULES`` is read by
``torch2nnx translate --rules mylib_rules`` or ``[tool.torch2nnx] rules``."""

from torch2nnx.rules.base import PLAIN, PLAIN_SAME_RANK, Example, Rule, wmap


def _scaled_linear(a, ctx):
    # the NNX class lives in mylib_jax: the translation imports it from there
    cls = ctx.import_name("mylib_jax", "ScaledLinear")
    return f"{cls}({a.src('in_f')}, {a.src('out_f')}, {a.src('scale')}, rngs={ctx.rngs})"


def _fused_gelu_bias(a, ctx):
    fn = ctx.import_name("mylib_jax", "fused_gelu_bias")
    return f"{fn}({a.src('x')}, {a.src('b')})"


RULES = [
    Rule(
        "mylib.layers.ScaledLinear", "in_f, out_f, scale=1.0", _scaled_linear,
        layout=PLAIN_SAME_RANK, layer=True, stateful=True,
        # torch's weight (out_f, in_f) is the kernel transposed, as nn.Linear's
        weights=wmap("ScaledLinear", ("weight", "kernel", "linear_kernel"), ("bias", "bias")),
        examples=(
            Example("mylib.layers.ScaledLinear(3, 4, 2.0)", ("float32[2,3]",),
                    expect="ScaledLinear(3, 4, 2.0, rngs=rngs)"),
            Example("mylib.layers.ScaledLinear(6, 5)", ("float32[2,7,6]",)),
        ),
    ),
    Rule(
        "mylib.ops.fused_gelu_bias", "x, b", _fused_gelu_bias,
        # the bias goes with the last dim: torch's order
        layout=PLAIN,
        examples=(Example("mylib.ops.fused_gelu_bias(x, y)", ("float32[2,5]", "float32[5]"),
                          expect="fused_gelu_bias(x, y)"),),
    ),
]
