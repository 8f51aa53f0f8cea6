"""torch machinery with no meaning in JAX: TorchScript, compile and tracing
decorations and checks, autograd switches, torchvision's usage logging,
torchvision's and timm's model registries.

Rows whose build gives ``DROP`` remove the statement, decorator or ``with``
wrapper they appear in (a ``with torch.no_grad():`` body stays).

Rows built by :func:`unwrap` are wrappers that hand back what they wrap
(``torch.jit.script(fn)``, ``torch.compile(model, mode=...)``): a call is the
wrapped value itself, a decorator (``@torch.jit.script``, ``@torch.compile(...)``,
on a function, a method or a class) goes, and a call whose result is unused
(``torch.jit.script(fn)`` as a statement) goes with its statement. Called
without the value (``torch.compile(mode=...)``), such a row returns the
decorator it would apply: the identity.
"""

from .base import ELEMENTWISE, OTHER, Example, Rule, Unsupported

DROP = "__torch2nnx_drop__"
IDENTITY = "(lambda fn: fn)"


def drop(a, ctx):
    return DROP


def unwrap(param: str, flag: str | None = None):
    """The build of a wrapper whose ``param`` is what it wraps. ``flag``: the
    parameter also takes a bool (``torch.jit.ignore(drop=True)``)."""

    def build(a, ctx):
        if not a.given(param) or a.src(param) == "None" or (flag and isinstance(a.value(param), bool)):
            return IDENTITY
        return a.src(param)

    build.wraps = True
    return build


def wraps(rule) -> bool:
    """The row hands back what it wraps, or drops its statement: as a decorator it goes."""
    return rule.build is drop or getattr(rule.build, "wraps", False)


def _autocast(a, ctx):
    """``with torch.autocast(..., enabled=False):`` keeps its body in full precision,
    as the translation computes anyway: the wrapper goes. Mixed precision itself
    (enabled, or decided at run time) would change the numbers: not translated."""
    if a.value("enabled") is False:
        return DROP
    raise Unsupported("T2N001", f"torch.autocast with enabled={a.src('enabled')}: mixed precision "
                                "is not translated (the body runs in the input's dtype)")


def _check(helper):
    """torch._assert(condition, message) / torch._assert_async(tensor[, message]):
    the helper checks concrete conditions (it raises torch's error class)."""
    def build(a, ctx):
        cond, msg = a.spec[0][0], a.spec[1][0]
        args = [a.src(cond)] + ([a.src(msg)] if a.given(msg) else [])
        return f"{ctx.helper(helper)}({', '.join(args)})"
    return build


def row(name, params, build, examples, note=""):
    return Rule(name, params, build, layout=OTHER, examples=examples, note=note)


X = ("float32[2,3]",)

def _variable(a, ctx):
    """torch.autograd.Variable(t): since torch 0.4 the tensor itself (gradients are
    asked for by jax.grad, not by ``requires_grad``)."""
    return a.src("data")


RULES = [
    # pre-0.4 autograd wrapper (pytorchcv's condensenet: index_select(x, 1, Variable(self.index)))
    Rule("torch.autograd.Variable", "data, requires_grad=False, volatile=False", _variable, layout=ELEMENTWISE,
         examples=(Example("torch.autograd.Variable(x) * 2", X),
                   Example("torch.autograd.Variable(x, requires_grad=True)", X))),
    row("torch.jit.unused", "fn=None", unwrap("fn"), (Example("torch.jit.unused", X, where="decorator"),)),
    row("torch.jit.ignore", "drop=False, **kwargs", unwrap("drop", flag=True),
        (Example("torch.jit.ignore", X, where="decorator"),
         Example("torch.jit.ignore(drop=True)", X, where="function-decorator"))),
    row("torch.jit.export", "fn=None", unwrap("fn"), (Example("torch.jit.export", X, where="decorator"),)),
    # TorchScript, compile and tracing: the translation runs under nnx.jit instead
    row("torch.jit.script", "obj, optimize=None, _frames_up=0, _rcb=None, example_inputs=None", unwrap("obj"),
        (Example("torch.jit.script", X, where="function-decorator"),
         Example("torch.jit.script(helper)", X, where="module-call"),
         Example("torch.jit.script", X, where="plain-class-decorator")),
        note="TorchScript; the translation compiles under nnx.jit / jax.jit"),
    row("torch.jit.script_method", "fn", unwrap("fn"), (Example("torch.jit.script_method", X, where="method-decorator"),)),
    row("torch.jit.script_if_tracing", "fn", unwrap("fn"),
        (Example("torch.jit.script_if_tracing", X, where="function-decorator"),)),
    row("torch.jit.interface", "obj", unwrap("obj"), (Example("torch.jit.interface", X, where="class-decorator"),),
        note="a TorchScript interface declaration"),
    row("torch.jit.trace", "func, example_inputs=None, optimize=None, check_trace=True, check_inputs=None, "
        "check_tolerance=1e-05, strict=True, _force_outplace=False, _module_class=None, _compilation_unit=None, "
        "example_kwarg_inputs=None, _store_inputs=True", unwrap("func"),
        (Example("torch.jit.trace(helper, torch.ones(2, 3))", X, where="module-call"),),
        note="the traced function is the function itself (its control flow as written)"),
    row("torch.compile", "model=None, *, fullgraph=False, dynamic=None, backend=None, mode=None, options=None, "
        "name=None, disable=False, recompile_limit=None, isolate_recompiles=False, dynamic_shapes=None",
        unwrap("model"),
        (Example("torch.compile(backend='eager')", X, where="function-decorator"),
         Example("torch.compile(helper, backend='eager', dynamic=False)", X, where="module-call"),
         Example("torch.compile(backend='eager')(helper)", X, where="module-call")),
        note="the translation compiles under nnx.jit / jax.jit"),
    row("torch.compiler.disable", "fn=None, recursive=True, *, reason=None", unwrap("fn"),
        (Example("torch.compiler.disable", X, where="function-decorator"),
         Example("torch.compiler.disable(recursive=False)", X, where="function-decorator"),
         Example("torch.compiler.disable(recursive=False)", X, where="decorator"))),
    row("torch._dynamo.disable", "fn=None, recursive=True, *, reason=None, wrapping=True", unwrap("fn"),
        (Example("torch._dynamo.disable", X, where="function-decorator"),)),
    row("torch.compiler.allow_in_graph", "fn", unwrap("fn"),
        (Example("torch.compiler.allow_in_graph", X, where="function-decorator"),)),
    row("torch._dynamo.allow_in_graph", "fn", unwrap("fn"),
        (Example("torch._dynamo.allow_in_graph", X, where="function-decorator"),)),
    row("torch.compiler.assume_constant_result", "fn", unwrap("fn"),
        (Example("torch.compiler.assume_constant_result", X, where="function-decorator"),)),
    row("torch.jit._overload_method", "func=None", drop,
        (Example("torch.jit._overload_method", X, where="overload"),)),
    row("torch.no_grad", "orig_func=None", drop,
        (Example("torch.no_grad()", X, where="decorator"), Example("torch.no_grad()", X, where="with")),
        note="JAX differentiates only what it is asked to; wrap in jax.lax.stop_gradient where it matters"),
    row("torch.inference_mode", "mode=True", drop, (Example("torch.inference_mode()", X, where="with"),)),
    # mixed precision: a region kept in full precision (enabled=False) is what JAX
    # computes anyway, so the with goes; an enabled one would compute in another dtype
    row("torch.autocast", "device_type, dtype=None, enabled=True, cache_enabled=None", _autocast,
        (Example("torch.autocast(device_type='cpu', enabled=False)", X, where="with"),
         Example("torch.autocast(x.device.type, enabled=False)", X, where="with"))),
    row("torch.amp.autocast", "device_type, dtype=None, enabled=True, cache_enabled=None", _autocast,
        (Example("torch.amp.autocast('cuda', enabled=False)", X, where="with"),)),
    row("torch.amp.autocast_mode.autocast", "device_type, dtype=None, enabled=True, cache_enabled=None", _autocast,
        (Example("torch.amp.autocast_mode.autocast('cpu', enabled=False)", X, where="with"),)),
    row("torch.cuda.amp.autocast", "enabled=True, dtype=None, cache_enabled=True", _autocast,
        (Example("torch.cuda.amp.autocast(enabled=False)", X, where="with"),)),
    row("torch.cpu.amp.autocast", "enabled=True, dtype=None, cache_enabled=True", _autocast,
        (Example("torch.cpu.amp.autocast(enabled=False)", X, where="with"),)),
    row("torch.jit.is_scripting", "", lambda a, ctx: "False", (Example("torch.jit.is_scripting()", X),)),
    row("torch.jit.is_tracing", "", lambda a, ctx: "False", (Example("torch.jit.is_tracing()", X),)),
    row("torch.compiler.is_compiling", "", lambda a, ctx: "False", (Example("torch.compiler.is_compiling()", X),)),
    row("torch.jit.annotate", "the_type, the_value", lambda a, ctx: a.src("the_value"),
        (Example("torch.jit.annotate(float, 2.0) * x", X),)),
    # checked eagerly (and on shapes under jit); a condition traced under jit is not
    row("torch._assert", "condition, message", _check("torch_assert"),
        (Example("torch._assert(x.shape[0] > 0, 'empty batch')", X, where="stmt", expect="torch_assert("),
         Example("torch._assert((x > -100).all(), 'too small')", X, where="stmt")),
        note="checked on concrete values; a condition traced under jit is not checked"),
    row("torch._assert_async", "input, assert_msg=None", _check("torch_assert_async"),
        (Example("torch._assert_async((x > -100).all())", X, where="stmt", expect="torch_assert_async("),
         Example("torch._assert_async(torch.all(x < 100), 'too large')", X, where="stmt")),
        note="checked on concrete values; a condition traced under jit is not checked"),
    row("torch.fx.wrap", "fn_or_name", unwrap("fn_or_name"),
        (Example("torch.fx.wrap('len')", X, where="module"), Example("torch.fx.wrap", X, where="function-decorator")),
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
        (Example("timm.layers._fx.register_notrace_module", X, where="decorator"),
         Example("timm.layers._fx.register_notrace_module", X, where="class-decorator")),
        note="FX tracing registration"),
    row("timm.layers._fx.register_notrace_function", "func", drop,
        (Example("timm.layers._fx.register_notrace_function", X, where="decorator"),),
        note="FX tracing registration"),
]
