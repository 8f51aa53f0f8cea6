"""torch machinery with no meaning in JAX: TorchScript decorators and checks,
autograd switches, torchvision's usage logging, torchvision's and timm's model registries.

Rows whose build gives ``DROP`` remove the statement, decorator or ``with``
wrapper they appear in (a ``with torch.no_grad():`` body stays).
"""

from .base import OTHER, Example, Rule

DROP = "__torch2nnx_drop__"


def drop(a, ctx):
    return DROP


def row(name, params, build, examples, note=""):
    return Rule(name, params, build, layout=OTHER, examples=examples, note=note)


X = ("float32[2,3]",)

RULES = [
    row("torch.jit.unused", "fn=None", drop, (Example("torch.jit.unused", X, where="decorator"),)),
    row("torch.jit.ignore", "drop=False, **kwargs", drop, (Example("torch.jit.ignore", X, where="decorator"),)),
    row("torch.jit.export", "fn=None", drop, (Example("torch.jit.export", X, where="decorator"),)),
    row("torch.jit._overload_method", "func=None", drop,
        (Example("torch.jit._overload_method", X, where="overload"),)),
    row("torch.no_grad", "orig_func=None", drop,
        (Example("torch.no_grad()", X, where="decorator"), Example("torch.no_grad()", X, where="with")),
        note="JAX differentiates only what it is asked to; wrap in jax.lax.stop_gradient where it matters"),
    row("torch.inference_mode", "mode=True", drop, (Example("torch.inference_mode()", X, where="with"),)),
    row("torch.jit.is_scripting", "", lambda a, ctx: "False", (Example("torch.jit.is_scripting()", X),)),
    row("torch.jit.is_tracing", "", lambda a, ctx: "False", (Example("torch.jit.is_tracing()", X),)),
    row("torch.compiler.is_compiling", "", lambda a, ctx: "False", (Example("torch.compiler.is_compiling()", X),)),
    row("torch.jit.annotate", "the_type, the_value", lambda a, ctx: a.src("the_value"),
        (Example("torch.jit.annotate(float, 2.0) * x", X),)),
    row("torch._assert", "condition, message", drop,
        (Example("torch._assert(x.shape[0] > 0, 'empty batch')", X, where="stmt"),),
        note="a traced condition cannot be checked inside jit"),
    row("torch.fx.wrap", "fn_or_name", drop, (Example("torch.fx.wrap('len')", X, where="module"),),
        note="FX tracing registration"),
    row("torchvision.utils._log_api_usage_once", "obj", drop,
        (Example("torchvision.utils._log_api_usage_once(self)", X, where="stmt"),)),
    row("torchvision.models._api.register_model", "name=None", drop,
        (Example("torchvision.models._api.register_model()", X, where="decorator"),),
        note="the translation must not register a second model under the same name"),
    # timm's registry: the translation imported beside the original must not replace its entries
    row("timm.models._registry.register_model", "fn", drop,
        (Example("timm.models._registry.register_model", X, where="decorator"),),
        note="the translation must not register a second model under the same name"),
    row("timm.models._registry.register_model_deprecations", "module_name, deprecation_map", drop,
        (Example("timm.models._registry.register_model_deprecations(__name__, {})", X, where="module"),)),
    row("timm.layers._fx.register_notrace_module", "module", drop,
        (Example("timm.layers._fx.register_notrace_module", X, where="decorator"),),
        note="FX tracing registration"),
    row("timm.layers._fx.register_notrace_function", "func", drop,
        (Example("timm.layers._fx.register_notrace_function", X, where="decorator"),),
        note="FX tracing registration"),
]
