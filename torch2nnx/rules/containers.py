"""Containers, parameters and buffers (nnx_facts §11)."""

from .base import ELEMENTWISE, NOT_CONSTANT, Example, Layout, Rule, Unsupported
from .util import call


def _sequential(a, ctx):
    items = list(a.star)
    if len(items) == 1 and items[0].startswith(("OrderedDict(", "collections.OrderedDict(")):
        inner = items[0].split("(", 1)[1].rsplit(")", 1)[0].strip()
        return f"{ctx.helper('NamedSequential')}(dict({inner}))"
    if len(items) == 1 and items[0].isidentifier():
        # one value known only at run time: a layer, or an OrderedDict of named layers
        return f"{ctx.helper('sequential')}({items[0]})"
    return call("nnx.Sequential", items)


def _module_list(a, ctx):
    if not a.given("modules") or a.src("modules") == "None":
        return "nnx.List()"
    return f"nnx.List({a.src('modules')})"


def _module_dict(a, ctx):
    if not a.given("modules") or a.src("modules") == "None":
        return "nnx.Dict()"
    return f"nnx.Dict({a.src('modules')})"


def _parameter(a, ctx):
    """A frozen parameter (requires_grad=False, or a flag known at run time: timm's
    StarReLU(scale_learnable=...)) is a FrozenParam: the weights loader ports it,
    nnx.Param filters (optimizers, grads) leave it alone."""
    rg = a.value("requires_grad")
    if rg is True:
        return f"nnx.Param({a.src('data')})"
    frozen = ctx.helper("FrozenParam")
    if rg is NOT_CONSTANT:
        return f"(nnx.Param if {a.src('requires_grad')} else {frozen})({a.src('data')})"
    return f"{frozen}({a.src('data')})"


def _buffer(a, ctx):
    """``self.x = nn.Buffer(t, persistent=...)``: what ``register_buffer`` makes."""
    persistent = a.value("persistent")
    if persistent not in (True, False):
        raise Unsupported("T2N004", "nn.Buffer with a computed persistent flag")
    data = a.src("data") if a.given("data") and a.src("data") != "None" else "jnp.zeros((0,))"
    return f"{ctx.buffer_class(persistent)}({data})"


def _identity(a, ctx):
    return "(lambda x: x)"


RULES = [
    Rule("torch.nn.Sequential", "*args", _sequential, layout=Layout("custom"), layer=True,
         helpers=(),
         examples=(Example("nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))", ("float32[2,4]",),
                           expect="nnx.Sequential(nnx.Linear(4, 6, rngs=rngs), jax.nn.relu"),
                   Example("nn.Sequential(OrderedDict([('fc', nn.Linear(4, 6)), ('act', nn.Tanh())]))",
                           ("float32[2,4]",), expect="NamedSequential"))),
    Rule("torch.nn.ModuleList", "modules=None", _module_list, layout=Layout("custom"), layer=True,
         examples=(Example("nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])", ("float32[2,4]",), expect="nnx.List("),)),
    Rule("torch.nn.ModuleDict", "modules=None", _module_dict, layout=Layout("custom"), layer=True,
         examples=(Example("nn.ModuleDict({'a': nn.Linear(4, 3), 'b': nn.Linear(4, 3)})", ("float32[2,4]",),
                           expect="nnx.Dict("),)),
    Rule("torch.nn.Identity", "*args, **kwargs", _identity, layout=ELEMENTWISE, layer=True,
         examples=(Example("nn.Identity()", ("float32[2,4]",)),)),
    Rule("torch.nn.Parameter", "data=None, requires_grad=True", _parameter, layout=Layout("source", tensors=("data",)),
         examples=(Example("nn.Parameter(torch.randn(4) * 0.5)", (), expect="nnx.Param(", where="init", compare="shape"),
                   Example("nn.Parameter(torch.ones(2, 3))", (), expect="nnx.Param(", where="init"),
                   Example("nn.Parameter(torch.ones(3) * 2, requires_grad=False)", (), expect="FrozenParam(",
                           where="init"))),
    Rule("torch.nn.Buffer", "data=None, *, persistent=True", _buffer, layout=Layout("source", tensors=("data",)),
         examples=(Example("nn.Buffer(torch.arange(6.0).reshape(2, 3))", (), expect="Buffer(", where="init"),
                   Example("nn.Buffer(torch.ones(3) * 2, persistent=False)", (), expect="NonPersistentBuffer(",
                           where="init"))),
    Rule("torch.nn.parameter.Parameter", "data=None, requires_grad=True", _parameter, layout=Layout("source", tensors=("data",)),
         examples=(Example("nn.parameter.Parameter(torch.ones(3))", (), expect="nnx.Param(", where="init"),)),
]
