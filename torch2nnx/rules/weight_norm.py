"""Weight normalisation (torch.nn.utils.weight_norm and its parametrization): the
layer wrapped by a runtime module holding g and v in torch's layout
(runtime/weight_norm.py), its state_dict names ported as torch writes them."""

from .base import OTHER, Example, Layout, Rule, Unsupported, wmap

_BIAS = ("bias", "layer.bias", None, True)
LEGACY = wmap("WeightNorm", ("weight_g", "weight_g"), ("weight_v", "weight_v"), _BIAS)
PARAMETRIZED = wmap("ParametrizedWeightNorm", ("parametrizations.weight.original0", "weight_g"),
                    ("parametrizations.weight.original1", "weight_v"), _BIAS)


def _wrap(cls):
    def build(a, ctx):
        if a.given("name") and a.value("name") != "weight":
            raise Unsupported("T2N002", f"weight_norm of name={a.src('name')}: only a layer's weight is translated")
        parts = [a.src("module")] + [f"{p}={a.src(p)}" for p in ("name", "dim") if a.given(p)]
        return f"{ctx.helper(cls)}({', '.join(parts)})"
    return build


def _examples(fn):
    return (Example("self.conv(x)", ("float32[2,3,9]",), init=(f"self.conv = {fn}(nn.Conv1d(3, 4, 3), dim=2)",),
                    expect="WeightNorm(nnx.Conv("),
            Example("self.conv(x)", ("float32[2,3,6,6]",), channels_last=True,
                    init=(f"self.conv = {fn}(nn.Conv2d(3, 5, 3, padding=1, bias=False))",)),
            Example("self.fc(x)", ("float32[4,6]",), init=(f"self.fc = {fn}(nn.Linear(6, 3), name='weight', dim=None)",)),
            Example("self.fc(x)", ("float32[4,6]",), init=("self.fc = nn.Linear(6, 3)", f"self.fc = {fn}(self.fc, dim=1)")))


_SIG = "module, name='weight', dim=0"
WRAPS = Layout("wraps", tensors=("module",))
RULES = [
    Rule("torch.nn.utils.weight_norm", _SIG, _wrap("WeightNorm"), layout=WRAPS, weights=LEGACY,
         examples=_examples("nn.utils.weight_norm"),
         note="Conv, ConvTranspose, Linear, Embedding; weight_g / weight_v in torch's layout"),
    Rule("torch.nn.utils.parametrizations.weight_norm", _SIG, _wrap("ParametrizedWeightNorm"), layout=WRAPS,
         weights=PARAMETRIZED,
         examples=_examples("nn.utils.parametrizations.weight_norm"),
         note="Conv, ConvTranspose, Linear, Embedding; parametrizations.weight.original0 / original1"),
]

# the module as a value (``hasattr(nn.utils.parametrizations, "weight_norm")``)
CONSTANTS = [
    Rule("torch.nn.utils.parametrizations", "", lambda a, ctx: ctx.helper("Parametrizations"), layout=OTHER,
         weights=PARAMETRIZED,
         examples=(Example("x * float(hasattr(nn.utils.parametrizations, 'weight_norm'))", ("float32[2,3]",)),)),
]
