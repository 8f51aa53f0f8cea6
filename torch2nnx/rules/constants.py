"""torch attributes used as values: dtypes, Tensor/Module in annotations."""

from .base import OTHER, Example, Rule


def const(name, target, examples=(), note=""):
    return Rule(name, "", lambda a, ctx: target, layout=OTHER, examples=examples, note=note)


_DTYPES = {
    "float32": "jnp.float32", "float": "jnp.float32", "float16": "jnp.float16", "half": "jnp.float16",
    "bfloat16": "jnp.bfloat16", "float64": "jnp.float64", "double": "jnp.float64",
    "int64": "jnp.int32", "long": "jnp.int32", "int32": "jnp.int32", "int": "jnp.int32",
    "int16": "jnp.int16", "int8": "jnp.int8", "uint8": "jnp.uint8", "bool": "jnp.bool_",
}

# int64 indices (token ids, argmax) are int32 in JAX unless x64 is enabled: said
# so, instead of asking for jnp.int64 and getting a truncation warning per call
_INT64_NOTE = "int64 is int32 in JAX unless x64 is enabled"

RULES = [const(f"torch.{k}", v, (Example(f"torch.{k}", ()),), _INT64_NOTE if k in ("int64", "long") else "")
         for k, v in _DTYPES.items()] + [
    const("torch.Tensor", "jax.Array", (Example("torch.Tensor", ()),)),
    const("torch.nn.Module", "nnx.Module", (Example("nn.Module", ()),)),
    const("torch.pi", "math.pi", (Example("torch.pi", ()),)),
    const("torch.inf", "math.inf", (Example("torch.inf", ()),)),
    const("torch.nan", "math.nan", (Example("torch.nan", ()),)),
]
