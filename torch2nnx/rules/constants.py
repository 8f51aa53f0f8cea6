"""torch attributes used as values: dtypes, Tensor/Module in annotations."""

from .base import OTHER, Example, Rule


def const(name, target, examples=(), note=""):
    return Rule(name, "", lambda a, ctx: target, layout=OTHER, examples=examples, note=note)


_DTYPES = {
    "float32": "jnp.float32", "float": "jnp.float32", "float16": "jnp.float16", "half": "jnp.float16",
    "bfloat16": "jnp.bfloat16", "float64": "jnp.float64", "double": "jnp.float64",
    "int64": "jnp.int32", "long": "jnp.int32", "int32": "jnp.int32", "int": "jnp.int32",
    "int16": "jnp.int16", "int8": "jnp.int8", "uint8": "jnp.uint8", "bool": "jnp.bool_",
    "complex64": "jnp.complex64", "cfloat": "jnp.complex64",
}

# int64 indices (token ids, argmax) are int32 in JAX unless x64 is enabled: said
# so, instead of asking for jnp.int64 and getting a truncation warning per call
_INT64_NOTE = "int64 is int32 in JAX unless x64 is enabled"

RULES = [const(f"torch.{k}", v, (Example(f"torch.{k}", ()),), _INT64_NOTE if k in ("int64", "long") else "")
         for k, v in _DTYPES.items()] + [
    const("torch.Tensor", "jax.Array", (Example("torch.Tensor", ()),)),
    const("torch.nn.Module", "nnx.Module", (Example("nn.Module", ()),)),
    # in annotations (``self.rel_pos: Optional[nn.Parameter] = None``); calls have their own row
    const("torch.nn.Parameter", "nnx.Param", (Example("nn.Parameter", ()),)),
    const("torch.nn.parameter.Parameter", "nnx.Param", (Example("nn.parameter.Parameter", ()),)),
    # an optimizer in annotations (the seed guide's ``optimizer: optim.Optimizer``)
    const("torch.optim.Optimizer", "nnx.Optimizer", (Example("torch.optim.Optimizer", ()),)),
    const("torch.pi", "math.pi", (Example("torch.pi", ()),)),
    const("torch.inf", "math.inf", (Example("torch.inf", ()),)),
    const("torch.nan", "math.nan", (Example("torch.nan", ()),)),
] + [
    # the legacy typed tensor classes, in annotations (transformers' ``input_ids:
    # torch.LongTensor``): an array; the dtype is not part of jax.Array's type
    const(f"torch.{k}Tensor", "jax.Array", (Example(f"torch.{k}Tensor", ()),))
    for k in ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool")
] + [
    # devices and dtypes in signatures (``device: Optional[torch.device] = None``)
    const("torch.device", "jax.Device", (Example("torch.device", ()),),
          note="as a type; devices passed to factories and .to() are dropped"),
    const("torch.dtype", "jnp.dtype", (Example("torch.dtype", ()),)),
    # TorchScript's annotations: their typing meaning
    const("torch.jit.Final", "typing.Final", (Example("torch.jit.Final", ()),)),
] + [const(f"torch.jit.annotations.{k}", f"typing.{k}", (Example(f"torch.jit.annotations.{k}", ()),))
     for k in ("List", "Tuple", "Dict", "Optional", "Any")]


def _finfo(kind):
    def build(a, ctx):
        t = a.src("type") if a.given("type") and a.src("type") != "None" else "jnp.float32"
        return f"jnp.{kind}({t})"
    return build


# torch functions about dtypes (values, not tensors)
FUNCTIONS = [
    Rule("torch.get_default_dtype", "", lambda a, ctx: "jnp.float32", layout=OTHER,
         examples=(Example("torch.get_default_dtype()", ()),),
         note="JAX's default float is float32 unless x64 is enabled"),
    Rule("torch.finfo", "type=None", _finfo("finfo"), layout=OTHER,
         examples=(Example("torch.finfo(torch.float16).max", ()), Example("torch.finfo(torch.float32).eps", ()),
                   Example("torch.finfo().bits", ()))),
    Rule("torch.iinfo", "type", _finfo("iinfo"), layout=OTHER,
         examples=(Example("torch.iinfo(torch.int8).min", ()),)),
]

# the values every torch dtype becomes: `d is torch.float32` compares them with ==
# (torch's dtypes are singletons; jnp's scalar types and an array's np.dtype are not)
DTYPE_VALUES = frozenset(_DTYPES.values())


def _dtype_prop(template):
    def build(a, ctx):
        return template.format(a.src("input"))
    return build


# torch.dtype's attributes, read (never called: Tensor.is_floating_point() is a
# method) on any value: only a dtype has them
DTYPE_PROPERTIES = [
    Rule("dtype.is_floating_point", "input", _dtype_prop("jnp.issubdtype({}, jnp.floating)"), layout=OTHER,
         examples=(Example("torch.float16.is_floating_point", ()), Example("torch.int32.is_floating_point", ()))),
    Rule("dtype.is_complex", "input", _dtype_prop("jnp.issubdtype({}, jnp.complexfloating)"), layout=OTHER,
         examples=(Example("torch.float32.is_complex", ()),)),
    Rule("dtype.is_signed", "input",
         _dtype_prop("(not jnp.issubdtype({0}, jnp.unsignedinteger) and not jnp.issubdtype({0}, jnp.bool_))"),
         layout=OTHER, examples=(Example("torch.uint8.is_signed", ()), Example("torch.float16.is_signed", ()))),
    Rule("dtype.itemsize", "input", _dtype_prop("jnp.dtype({}).itemsize"), layout=OTHER,
         examples=(Example("torch.bfloat16.itemsize", ()),)),
]
