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
  ``create_causal_mask``, ``create_sliding_window_causal_mask``: torch's formulas in JAX;
- ``ROPE_INIT_FUNCTIONS``, ``dynamic_rope_update`` (modeling_rope_utils): runtime/hf/rope.py;
- ``transformers.initialization``: torch.nn.init's rows under their names;
- decorators with no meaning in JAX (``auto_docstring``, ``can_return_tuple``,
  config defaults): identities, dropped as decorations; output capturing
  (``capture_outputs``: torch's hooks recording hidden states and attentions)
  refuses at run time where those outputs are asked for;
- ``BackboneMixin``, ``filter_output_hidden_states``: runtime/hf/backbone.py.
"""

from __future__ import annotations

import dataclasses
import re

from . import init as torch_init
from .base import OTHER, PLAIN_SAME_RANK, Example, Layout, Rule, wmap
from .torch_only import DROP, IDENTITY, unwrap

TF = "transformers."
X = ("float32[2,3]",)
TOKENS = ("float32[2,5,8]",)

# where torch's definitions live and the names modeling files import them by
MODELING_UTILS = TF + "modeling_utils."
# the library's own names that are plain Python: kept as imports of transformers (the
# configuration files' field validators and RoPE parameters' TypedDict among them)
# (the hub's file cache, and the version check before torch.load: torch files are read with torch,
# torch.load's translation)
KEPT = (TF + "utils.logging", TF + "utils.DUMMY_INPUTS", TF + "utils.DUMMY_MASK", TF + "utils.type_validators",
        TF + "modeling_rope_utils.RopeParameters", TF + "utils.cached_file", TF + "utils.hub.cached_file",
        TF + "utils.check_torch_load_is_safe", TF + "utils.import_utils.check_torch_load_is_safe")


def follows(qualified: str):
    """Whether a run follows an import of this name into the library's files: only into
    the models' modeling files (model code); configuration classes, logging and the
    infrastructure stay imports. None for a name of another package."""
    if not qualified.startswith(TF):
        return None
    return bool(re.match(r"transformers\.models\.[\w.]+\.modeling_", qualified))


def library(qualified: str) -> bool:
    """A transformers name that is torch code (its infrastructure): a row here or,
    where none is, unsupported (marked where used; the library file is never followed).
    Configuration classes, logging, availability checks and the models' own modeling
    files (transformers.models.*, translated when followed) are not."""
    if not qualified.startswith(TF):
        return False
    parts = qualified.split(".")
    return not (qualified.startswith(TF + "models.") or any(p.startswith("configuration") for p in parts)
                or parts[-1].startswith("is_") or any(qualified == k or qualified.startswith(k + ".") for k in KEPT))
OUTPUTS = TF + "modeling_outputs."


def _helper_call(helper):
    """The call with the runtime helper in place of the library function, arguments as given:
    leading positional parameters positionally (varargs follow them), the rest by keyword."""
    def build(a, ctx):
        parts, keywords, leading = [], [], True
        for n, _, k in a.spec:
            if k == "pos" and leading and n in a.given_src:
                parts.append(a.given_src[n])
            elif k in ("pos", "kwonly"):
                leading = False
                if n in a.given_src:
                    keywords.append(f"{n}={a.given_src[n]}")
        parts += list(a.star) + keywords + [f"{k}={v}" for k, v in a.kwextra.items()]
        return f"{ctx.helper(helper)}({', '.join(parts)})"
    return build


def _helper_value(helper):
    def build(a, ctx):
        return ctx.helper(helper) if ctx is not None else helper
    return build


def _is_set(name):
    """An example reading a name that is not a tensor function: it must translate and run."""
    return (Example(f"x * float({name} is not None)", X),)


def const(name, target, examples, helper=None, module_base=False, rngs_methods=()):
    return Rule(name, "", _helper_value(target) if helper else (lambda a, ctx: target), layout=OTHER,
                examples=examples, helpers=(target,) if helper else (), module_base=module_base,
                rngs_methods=rngs_methods)


def _factory(a, ctx):
    """A decorator factory with no meaning in JAX (deprecate_kwarg(...), kernels from the hub)."""
    return IDENTITY


_factory.wraps = True


def _autocast(a, ctx):
    if a.value("enabled") is False:
        return DROP
    from .base import Unsupported

    raise Unsupported("T2N001", f"maybe_autocast with enabled={a.src('enabled')}: mixed precision is not translated")


def _int(a, ctx):
    return f"int({a.src('x')})"


def _output_names():
    """The output classes of runtime/hf/outputs.py (generated from transformers')."""
    import ast
    from pathlib import Path

    src = (Path(__file__).resolve().parent.parent / "runtime" / "hf" / "outputs.py").read_text()
    return [n.name for n in ast.parse(src).body if isinstance(n, ast.ClassDef) and n.name != "ModelOutput"]


# rope_parameters of each ROPE_INIT_FUNCTIONS example (a 16-wide head: 8 frequencies)
_ROPE_EXAMPLES = (
    ("linear", "{'rope_type': 'linear', 'rope_theta': 100.0, 'factor': 2.0}"),
    ("dynamic", "{'rope_type': 'dynamic', 'rope_theta': 100.0, 'factor': 3.0}"),
    ("yarn", "{'rope_type': 'yarn', 'rope_theta': 100.0, 'factor': 4.0, 'original_max_position_embeddings': 16}"),
    ("llama3", "{'rope_type': 'llama3', 'rope_theta': 500.0, 'factor': 8.0, 'low_freq_factor': 1.0, "
               "'high_freq_factor': 4.0, 'original_max_position_embeddings': 32}"),
    ("longrope", "{'rope_type': 'longrope', 'rope_theta': 100.0, 'long_factor': [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, "
                 "7.0, 8.0], 'short_factor': [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5], "
                 "'original_max_position_embeddings': 16}"),
    ("proportional", "{'rope_type': 'proportional', 'rope_theta': 100.0, 'partial_rotary_factor': 0.5, "
                     "'factor': 2.0}"),
)
# a feature map packed channels-last (after a conv) is read back in torch's order: as a
# field, positionally, and as a tuple of them (hidden states) or None
_PACKED = {"BaseModelOutputWithNoAttention": tuple(Example(
    f"{OUTPUTS}BaseModelOutputWithNoAttention({args}){read}", ("float32[2,3,8,8]",), channels_last=True)
    for args, read in (("last_hidden_state=x, hidden_states=(x, x * 2.0)", ".hidden_states[1]"),
                       ("x * 3.0", "[0]"), ("last_hidden_state=x, hidden_states=None", ".last_hidden_state")))}
_OUT_EX = "transformers.modeling_outputs.BaseModelOutput(last_hidden_state=x * 2.0)"
_MASK = ("transformers.masking_utils.{}(config=transformers.configuration_utils.PretrainedConfig("
         "attn_implementation='eager'), inputs_embeds=x, attention_mask=(y > 0.0){}).clip(-1.0, 0.0)")

RULES = [
    Rule(TF + "masking_utils.create_bidirectional_mask", "config, inputs_embeds, attention_mask, **kwargs",
         _helper_call("create_bidirectional_mask"), layout=Layout("plain", tensors=("inputs_embeds", "attention_mask")),
         examples=(Example(_MASK.format("create_bidirectional_mask", ""), ("float32[2,5,8]", "float32[2,5]")),)),
    Rule(TF + "masking_utils.create_causal_mask", "config, inputs_embeds, attention_mask, **kwargs",
         _helper_call("create_causal_mask"), layout=Layout("plain", tensors=("inputs_embeds", "attention_mask")),
         examples=(Example(_MASK.format("create_causal_mask", ", cache=None"),
                           ("float32[2,5,8]", "float32[2,5]")),)),
    Rule(TF + "masking_utils.create_sliding_window_causal_mask", "config, inputs_embeds, attention_mask, **kwargs",
         _helper_call("create_sliding_window_causal_mask"),
         layout=Layout("plain", tensors=("inputs_embeds", "attention_mask")),
         examples=(Example(_MASK.format("create_sliding_window_causal_mask", ", cache=None").replace(
             "attn_implementation='eager'", "attn_implementation='eager', sliding_window=2"),
             ("float32[2,5,8]", "float32[2,5]")),)),
    Rule(TF + "integrations.sdpa_attention.sdpa_attention_forward",
         "module, query, key, value, attention_mask, **kwargs", _helper_call("hf_sdpa_attention"),
         layout=Layout("plain", tensors=("query", "key", "value")), returns_tuple=True,
         examples=(Example("transformers.integrations.sdpa_attention.sdpa_attention_forward("
                           "self, x, y, y, None, scaling=0.5, is_causal=False)[0]",
                           ("float32[2,2,5,4]", "float32[2,2,5,4]")),)),
    # GPT-2's projections: a linear layer with its weight stored (in, out)
    Rule(TF + "pytorch_utils.Conv1D", "nf, nx", lambda a, ctx: f"{ctx.helper('HFConv1D')}({a.src('nf')}, "
         f"{a.src('nx')}, rngs={ctx.rngs})", layout=PLAIN_SAME_RANK, layer=True, stateful=True,
         weights=wmap("HFConv1D", ("weight", "weight"), ("bias", "bias")),
         examples=(Example("transformers.pytorch_utils.Conv1D(5, 3)", ("float32[2,4,3]",)),)),
    Rule(TF + "pytorch_utils.apply_chunking_to_forward", "forward_fn, chunk_size, chunk_dim, *input_tensors",
         _helper_call("apply_chunking_to_forward"), layout=Layout("plain", tensors=()),
         examples=(Example("transformers.pytorch_utils.apply_chunking_to_forward(lambda t: torch.tanh(t), 2, 1, x)",
                           ("float32[2,6,3]",)),)),
    Rule(MODELING_UTILS + "slice_logits_to_keep", "hidden_states, logits_to_keep", _helper_call("slice_logits_to_keep"),
         layout=Layout("plain", tensors=("hidden_states",)),
         examples=(Example("transformers.modeling_utils.slice_logits_to_keep(x, 2)", ("float32[2,6,3]",)),
                   Example("transformers.modeling_utils.slice_logits_to_keep(x, 0)", ("float32[2,6,3]",)))),
    Rule(TF + "utils.output_capturing.OutputRecorder", "target_class, **kwargs", _helper_call("OutputRecorder"),
         layout=OTHER, examples=(Example("x * transformers.utils.output_capturing.OutputRecorder(None, index=2).index",
                                         X),)),
    # activations.gelu: the registry's exact (erf) GELU, as a function
    Rule(TF + "activations.gelu", "input", lambda a, ctx: f"jax.nn.gelu({a.src('input')}, approximate=False)",
         examples=(Example("transformers.activations.gelu(x)", X),)),
    Rule(TF + "activations.get_activation", "activation_string",
         lambda a, ctx: f"{ctx.helper('ACT2FN')}[{a.src('activation_string')}]", layout=OTHER,
         examples=(Example("transformers.activations.get_activation('quick_gelu')(x)", X),)),
    Rule(TF + "utils.generic.maybe_autocast", "device_type, dtype=None, enabled=True, cache_enabled=None", _autocast,
         layout=OTHER, examples=(Example("transformers.utils.generic.maybe_autocast('cpu', enabled=False)", X,
                                         where="with"),)),
    # a check (T5's and BART's heads: every sequence ends in one eos token), eager only under jit
    Rule(TF + "utils.torch_compilable_check", "cond, msg, error_type=ValueError",
         _helper_call("torch_compilable_check"), layout=Layout("other", tensors=()),
         examples=(Example("x * float(transformers.utils.torch_compilable_check(x.shape[0] > 1, 'one row') is None)",
                           X),
                   Example("x * float(transformers.utils.torch_compilable_check(lambda: (x * x >= 0).all(), "
                           "lambda: 'negative square') is None)", X))),
    # recorded outputs (hooks): refused where asked for (runtime/hf/plumbing.py)
    Rule(TF + "utils.output_capturing.capture_outputs", "func=None, *, tie_last_hidden_states=True",
         _helper_call("capture_outputs"), layout=OTHER,
         examples=(Example(TF + "utils.output_capturing.capture_outputs(tie_last_hidden_states=False)", X,
                           where="method-decorator"),)),
    # torch's device context: none applies to the translation (JAX places arrays itself)
    Rule(MODELING_UTILS + "get_torch_context_manager_or_global_device", "", lambda a, ctx: "None", layout=OTHER,
         examples=(Example(f"x * float({MODELING_UTILS}get_torch_context_manager_or_global_device() is None)", X),)),
    Rule(TF + "utils.torch_int", "x", _int, layout=OTHER,
         examples=(Example("x * transformers.utils.torch_int(x.shape[1] ** 0.5)", ("float32[2,9]",)),)),
] + [
    # plumbing decorators: the wrapped function itself
    Rule(TF + name, "fn=None, **kwargs", unwrap("fn"), layout=OTHER, examples=(Example(TF + name, X, where=where),))
    # (those reading the model's config in torch decorate a method forward does not call)
    for name, where in (("utils.auto_docstring", "decorator"), ("utils.generic.can_return_tuple", "decorator"),
                        ("utils.generic.merge_with_config_defaults", "method-decorator"),
                        ("utils.generic.check_model_inputs", "method-decorator"),
                        ("utils.can_return_tuple", "decorator"))
] + [
    # decorator factories: the identity
    Rule(TF + name, "*args, **kwargs", _factory, layout=OTHER, examples=(Example(TF + name + args, X, where=where),))
    for name, args, where in (("utils.deprecation.deprecate_kwarg", "('old', '5.0', new_name='x')", "decorator"),
                              ("integrations.use_kernel_forward_from_hub", "('RMSNorm')", "class-decorator"),
                              ("integrations.hub_kernels.use_kernel_forward_from_hub", "('RMSNorm')",
                               "class-decorator"),
                              ("integrations.use_kernelized_func", "(torch.tanh)", "class-decorator"),
                              # accelerate's device hooks (offloading): JAX places arrays itself
                              ("integrations.accelerate.force_accelerate_hooks", "([])", "decorator"))
] + [
    # the output classes, built: the runtime's, with the fields given, held in torch's
    # order (translator/output_fields.py: whoever reads a field back reads torch's order)
    Rule(OUTPUTS + name, "*args, **kwargs", _helper_call(name), layout=Layout("other", tensors=("args", "kwargs")),
         examples=(Example(f"{OUTPUTS}{name}(x * 2.0)[0]", X),) + _PACKED.get(name, ()))
    for name in _output_names()
] + [
    # KV caches (runtime/hf/cache.py), built
    Rule(TF + "cache_utils." + name, "*args, **kwargs", _helper_call(name), layout=OTHER,
         examples=(Example(f"x * float(isinstance(x, transformers.cache_utils.{name}))", X),))
    for name in ("Cache", "DynamicCache", "EncoderDecoderCache")
] + [
    Rule(TF + "initialization.copy_", "tensor, other", lambda a, ctx: torch_init._set(a, a.src("other"), ctx),
         layout=OTHER, examples=(Example("transformers.initialization.copy_(self.layer.weight, torch.full((20,), 0.5))",
                                         (), compare="stats", where="nn.LayerNorm(20)"),)),
] + [
    # JAX-style initialisers written for torch (SigLIP's _init_weights), each on two layers
    Rule(TF + "initialization." + name, "tensor", torch_init.variance_scaling("fan_in", distribution),
         layout=OTHER, examples=tuple(Example(f"transformers.initialization.{name}(self.layer.weight)", (),
                                              compare="stats", where=layer) for layer in layers))
    for name, distribution, layers in (
        ("lecun_normal_", "truncated_normal", ("nn.Linear(1, 5000)", "nn.Conv2d(3, 64, 4)")),
        ("default_flax_embed_init_", "normal", ("nn.Embedding(3000, 20)", "nn.Linear(300, 20)")))
] + [
    # transformers.initialization: torch.nn.init's functions (run by _init_weights)
    dataclasses.replace(r, name=TF + "initialization." + r.short, examples=tuple(
        dataclasses.replace(e, torch=e.torch.replace("nn.init.", "transformers.initialization.")) for e in r.examples))
    for r in torch_init.RULES if r.name.startswith("torch.nn.init.") and not r.short.startswith("_")
]

CONSTANTS = [
    # init_weights(rngs) runs _init_weights over the modules, as torch's post_init does
    const(MODELING_UTILS + "PreTrainedModel", "PreTrainedModel", _is_set(MODELING_UTILS + "PreTrainedModel"),
          helper=True, module_base=True, rngs_methods=("_init_weights", "_from_config")),
    const(TF + "modeling_layers.GradientCheckpointingLayer", "GradientCheckpointingLayer",
          _is_set(TF + "modeling_layers.GradientCheckpointingLayer"), helper=True, module_base=True),
    const(TF + "activations.ACT2FN", "ACT2FN",
          (Example("transformers.activations.ACT2FN['gelu_new'](x) + transformers.activations.ACT2FN['gelu'](x)",
                   TOKENS),), helper=True),
    const(TF + "pytorch_utils.Conv1D", "HFConv1D", _is_set(TF + "pytorch_utils.Conv1D"), helper=True),
    const(TF + "utils.output_capturing.OutputRecorder", "OutputRecorder",
          _is_set(TF + "utils.output_capturing.OutputRecorder"), helper=True),
    const(MODELING_UTILS + "ALL_ATTENTION_FUNCTIONS", "ALL_ATTENTION_FUNCTIONS",
          (Example(MODELING_UTILS + "ALL_ATTENTION_FUNCTIONS.get_interface('sdpa', None)(self, x, y, y, None, "
                   "scaling=0.5)[0]", ("float32[2,2,5,4]", "float32[2,2,5,4]")),), helper=True),
    # the mask functions handed around as values (Mistral picks one by config.sliding_window)
] + [const(TF + "masking_utils." + name, name, (Example(
    f"(transformers.masking_utils.create_causal_mask if x.shape[0] > 9 else transformers.masking_utils.{name})("
    "config=transformers.configuration_utils.PretrainedConfig(attn_implementation='eager', sliding_window=2), "
    "inputs_embeds=x, attention_mask=(y > 0.0), cache=None, position_ids=None).clip(-1.0, 0.0)",
    ("float32[2,5,8]", "float32[2,5]")),), helper=True)
    for name in ("create_causal_mask", "create_sliding_window_causal_mask", "create_bidirectional_mask")] + [
    # RoPE: the registry of parameterisations by rope_type, and the rotary forward's decorator
    const(TF + "modeling_rope_utils.ROPE_INIT_FUNCTIONS", "ROPE_INIT_FUNCTIONS", tuple(
        Example(f"x + {TF}modeling_rope_utils.ROPE_INIT_FUNCTIONS['{kind}']({TF}models.llama.configuration_llama."
                f"LlamaConfig(hidden_size=32, num_attention_heads=2, max_position_embeddings=64, "
                f"rope_parameters={params}))[0] * 10.0", ("float32[2,8]",)) for kind, params in _ROPE_EXAMPLES),
        helper=True),
    const(TF + "modeling_rope_utils.dynamic_rope_update", "dynamic_rope_update",
          _is_set(TF + "modeling_rope_utils.dynamic_rope_update"), helper=True),
    const(TF + "utils.ModelOutput", "ModelOutput", _is_set(TF + "utils.ModelOutput"), helper=True),
    const(TF + "utils.generic.ModelOutput", "ModelOutput", _is_set(TF + "utils.generic.ModelOutput"),
          helper=True),
    # KV caches (runtime/hf/cache.py) and generation (runtime/hf/generation.py: greedy generate)
] + [const(TF + q, n, _is_set(TF + q), helper=True,
           module_base=n == "GenerationMixin")
     for q, n in (("cache_utils.Cache", "Cache"), ("cache_utils.DynamicCache", "DynamicCache"),
                  ("cache_utils.EncoderDecoderCache", "EncoderDecoderCache"),
                  ("generation.GenerationMixin", "GenerationMixin"),
                  ("generation.utils.GenerationMixin", "GenerationMixin"))] + [
    # the generic task heads (runtime/hf/heads.py): mixins building the base model and a linear head
    const(TF + "modeling_layers." + n, n, _is_set(TF + "modeling_layers." + n), helper=True, module_base=True)
    for n in ("GenericForSequenceClassification", "GenericForQuestionAnswering", "GenericForTokenClassification")] + [
    # recorded outputs (hooks): refused where asked for (runtime/hf/plumbing.py)
    const(TF + "utils.output_capturing.capture_outputs", "capture_outputs",
          (Example(TF + "utils.output_capturing.capture_outputs", X, where="method-decorator"),), helper=True),
    # the *Backbone classes' base and forward wrapper (runtime/hf/backbone.py)
    const(TF + "backbone_utils.BackboneMixin", "BackboneMixin", _is_set(TF + "backbone_utils.BackboneMixin"),
          helper=True, module_base=True),
    const(TF + "backbone_utils.filter_output_hidden_states", "filter_output_hidden_states",
          _is_set(TF + "backbone_utils.filter_output_hidden_states"), helper=True),
    const(TF + "modeling_flash_attention_utils.FlashAttentionKwargs", "typing.Any",
          _is_set(TF + "modeling_flash_attention_utils.FlashAttentionKwargs")),
    # **kwargs: Unpack[TransformersKwargs]: the keywords are handed on as they are
    const(TF + "utils.TransformersKwargs", "typing.Any", _is_set(TF + "utils.TransformersKwargs")),
    const(TF + "utils.generic.TransformersKwargs", "typing.Any",
          _is_set(TF + "utils.generic.TransformersKwargs")),
    const(TF + "processing_utils.Unpack", "typing.Unpack", _is_set(TF + "processing_utils.Unpack")),
] + [const(OUTPUTS + name, name, _is_set(OUTPUTS + name), helper=True) for name in _output_names()]
