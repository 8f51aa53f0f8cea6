"""Hugging Face transformers' infrastructure (issue 14), as rows: what its
``modeling_*.py`` files import from the library itself maps to a small JAX
runtime (runtime/hf/), so a modeling file translates without its library
files ("libraries, not files"). Configuration classes and ``logging`` are
plain Python: they stay imported from transformers.

- model bases (``PreTrainedModel``, ``GradientCheckpointingLayer``): rows with
  ``module_base``; a class deriving from one is an NNX module deriving from the
  runtime class of the same name;
- ``ModelOutput`` and the classes of modeling_outputs.py: pytrees with torch's
  attribute, key and index access;
- ``ACT2FN``, ``ALL_ATTENTION_FUNCTIONS``, ``create_bidirectional_mask``,
  ``create_causal_mask``: torch's formulas in JAX;
- ``transformers.initialization``: torch.nn.init's rows under their names;
- decorators with no meaning in JAX (``auto_docstring``, ``can_return_tuple``,
  output capturing, config defaults): identities, dropped as decorations.
"""

from __future__ import annotations

import dataclasses

from . import init as torch_init
from .base import OTHER, Example, Layout, Rule
from .torch_only import unwrap

TF = "transformers."
X = ("float32[2,3]",)
TOKENS = ("float32[2,5,8]",)

# where torch's definitions live and the names modeling files import them by
MODELING_UTILS = TF + "modeling_utils."
# modules whose every name is a row here or unsupported (marked where used)
PROVIDED_MODULES = (TF + "initialization", TF + "activations", TF + "masking_utils", TF + "modeling_outputs",
                    TF + "modeling_layers", TF + "integrations.sdpa_attention", TF + "utils.output_capturing")
OUTPUTS = TF + "modeling_outputs."


def _helper_call(helper):
    """The call with the runtime helper in place of the library function, arguments as given."""
    def build(a, ctx):
        parts = list(a.star) + [f"{k}={v}" for k, v in a.given_src.items()] \
            + [f"{k}={v}" for k, v in a.kwextra.items()]
        return f"{ctx.helper(helper)}({', '.join(parts)})"
    return build


def _helper_value(helper):
    def build(a, ctx):
        return ctx.helper(helper) if ctx is not None else helper
    return build


def _is_set(name):
    """An example reading a name that is not a tensor function: it must translate and run."""
    return (Example(f"x * float({name} is not None)", X),)


def const(name, target, examples, helper=None, module_base=False):
    return Rule(name, "", _helper_value(target) if helper else (lambda a, ctx: target), layout=OTHER,
                examples=examples, helpers=(target,) if helper else (), module_base=module_base)


def _int(a, ctx):
    return f"int({a.src('x')})"


def _output_names():
    """The output classes of runtime/hf/outputs.py (generated from transformers')."""
    import ast
    from pathlib import Path

    src = (Path(__file__).resolve().parent.parent / "runtime" / "hf" / "outputs.py").read_text()
    return [n.name for n in ast.parse(src).body if isinstance(n, ast.ClassDef) and n.name != "ModelOutput"]


_OUT_EX = "transformers.modeling_outputs.BaseModelOutput(last_hidden_state=x * 2.0)"
_MASK = "transformers.masking_utils.{}(config=None, inputs_embeds=x, attention_mask=(y > 0.0))"

RULES = [
    Rule(TF + "masking_utils.create_bidirectional_mask", "config, inputs_embeds, attention_mask, **kwargs",
         _helper_call("create_bidirectional_mask"), layout=Layout("plain", tensors=("inputs_embeds", "attention_mask")),
         examples=(Example(_MASK.format("create_bidirectional_mask"), ("float32[2,5,8]", "float32[2,5]")),)),
    Rule(TF + "masking_utils.create_causal_mask", "config, inputs_embeds, attention_mask, **kwargs",
         _helper_call("create_causal_mask"), layout=Layout("plain", tensors=("inputs_embeds", "attention_mask")),
         examples=(Example(_MASK.format("create_causal_mask") + ".clip(-1.0, 0.0)",
                           ("float32[2,5,8]", "float32[2,5]")),)),
    Rule(TF + "integrations.sdpa_attention.sdpa_attention_forward",
         "module, query, key, value, attention_mask, **kwargs", _helper_call("hf_sdpa_attention"),
         layout=Layout("plain", tensors=("query", "key", "value")), returns_tuple=True,
         examples=(Example("transformers.integrations.sdpa_attention.sdpa_attention_forward("
                           "self, x, y, y, None, scaling=0.5, is_causal=False)[0]",
                           ("float32[2,2,5,4]", "float32[2,2,5,4]")),)),
    Rule(TF + "utils.torch_int", "x", _int, layout=OTHER,
         examples=(Example("x * transformers.utils.torch_int(x.shape[1] ** 0.5)", ("float32[2,9]",)),)),
] + [
    # plumbing decorators: the wrapped function itself
    Rule(TF + name, "fn=None, **kwargs", unwrap("fn"), layout=OTHER, examples=(Example(TF + name, X, where=where),))
    for name, where in (("utils.auto_docstring", "decorator"), ("utils.generic.can_return_tuple", "decorator"),
                        ("utils.generic.merge_with_config_defaults", "decorator"),
                        ("utils.generic.check_model_inputs", "decorator"),
                        ("utils.output_capturing.capture_outputs", "decorator"),
                        ("utils.can_return_tuple", "decorator"))
] + [
    # the output classes, built: the runtime's, with the fields given
    Rule(OUTPUTS + name, "*args, **kwargs", _helper_call(name), layout=Layout("other", tensors=()),
         examples=(Example(f"{OUTPUTS}{name}(x * 2.0)[0]", X),))
    for name in _output_names()
] + [
    # transformers.initialization: torch.nn.init's functions (run by _init_weights)
    dataclasses.replace(r, name=TF + "initialization." + r.short, examples=tuple(
        dataclasses.replace(e, torch=e.torch.replace("nn.init.", "transformers.initialization.")) for e in r.examples))
    for r in torch_init.RULES if r.name.startswith("torch.nn.init.") and not r.short.startswith("_")
]

CONSTANTS = [
    const(MODELING_UTILS + "PreTrainedModel", "PreTrainedModel", _is_set(MODELING_UTILS + "PreTrainedModel"),
          helper=True, module_base=True),
    const(TF + "modeling_layers.GradientCheckpointingLayer", "GradientCheckpointingLayer",
          _is_set(TF + "modeling_layers.GradientCheckpointingLayer"), helper=True, module_base=True),
    const(TF + "activations.ACT2FN", "ACT2FN",
          (Example("transformers.activations.ACT2FN['gelu_new'](x) + transformers.activations.ACT2FN['gelu'](x)",
                   TOKENS),), helper=True),
    const(MODELING_UTILS + "ALL_ATTENTION_FUNCTIONS", "ALL_ATTENTION_FUNCTIONS",
          (Example(MODELING_UTILS + "ALL_ATTENTION_FUNCTIONS.get_interface('sdpa', None)(self, x, y, y, None, "
                   "scaling=0.5)[0]", ("float32[2,2,5,4]", "float32[2,2,5,4]")),), helper=True),
    const(TF + "utils.ModelOutput", "ModelOutput", _is_set(TF + "utils.ModelOutput"), helper=True),
    const(TF + "utils.generic.ModelOutput", "ModelOutput", _is_set(TF + "utils.generic.ModelOutput"),
          helper=True),
    # **kwargs: Unpack[TransformersKwargs]: the keywords are handed on as they are
    const(TF + "utils.TransformersKwargs", "typing.Any", _is_set(TF + "utils.TransformersKwargs")),
    const(TF + "utils.generic.TransformersKwargs", "typing.Any",
          _is_set(TF + "utils.generic.TransformersKwargs")),
    const(TF + "processing_utils.Unpack", "typing.Unpack", _is_set(TF + "processing_utils.Unpack")),
] + [const(OUTPUTS + name, name, _is_set(OUTPUTS + name), helper=True) for name in _output_names()]
