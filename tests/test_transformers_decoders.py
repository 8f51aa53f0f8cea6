"""The decoder LMs of the Llama family (issue 14): modeling_llama.py and the files
built like it (Mistral, Qwen2, Qwen3, Gemma), translated unmodified from the installed
transformers with RoPE (modeling_rope_utils: runtime/hf/rope.py), grouped-query
attention (the file's repeat_kv, torch code) and the causal / sliding-window masks
(runtime/hf/attention.py): hidden states and logits at parity with a padding mask,
use_cache=False, eager and sdpa attention, eagerly and under nnx.jit, gradients of
every parameter of the base model (the pattern of test_transformers_models.py).
"""

from __future__ import annotations

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402

from harness import assert_close  # noqa: E402
from test_transformers_models import check_clean, check_parity, models, translations  # noqa: E402

torch.set_num_threads(1)

SIZES = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=97, max_position_embeddings=64)
# the model classes of each file, and its configuration's extra settings
FAMILY = {
    "llama": ("Llama", {}),
    "mistral": ("Mistral", {"sliding_window": 3}),
    "qwen2": ("Qwen2", {"use_sliding_window": True, "sliding_window": 3, "max_window_layers": 1}),
    "qwen3": ("Qwen3", {"head_dim": 16}),
    "gemma": ("Gemma", {"head_dim": 16}),
    "gpt_neox": ("GPTNeoX", {}),
    "phi3": ("Phi3", {"pad_token_id": 0, "eos_token_id": 2, "bos_token_id": 1, "sliding_window": 3}),
    "gemma2": ("Gemma2", {"head_dim": 16, "sliding_window": 3, "attn_logit_softcapping": 5.0,
                          "final_logit_softcapping": 3.0, "query_pre_attn_scalar": 16}),
}
# torch runs these with the eager attention only (Gemma 2's soft-capping has no sdpa)
EAGER_ONLY = {"gemma2"}


def attention(name, impl="sdpa"):
    """``impl``, or "eager" where torch has no other."""
    return "eager" if name in EAGER_ONLY else impl


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translations(tmp_path_factory)


def config(name, **extra):
    prefix, settings = FAMILY[name]
    cls = getattr(transformers, f"{prefix}Config")
    return cls(**SIZES, **{**settings, **extra})


def inputs(seq=7):
    import jax.numpy as jnp

    ids = np.random.default_rng(0).integers(0, 97, (2, seq))
    mask = np.ones((2, seq), np.int64)
    mask[1, seq - seq // 2:] = 0  # the second sequence is padded
    t_in = dict(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), use_cache=False)
    j_in = dict(input_ids=jnp.asarray(ids), attention_mask=jnp.asarray(mask), use_cache=False)
    return t_in, j_in


@pytest.mark.parametrize("name", list(FAMILY))
def test_translates_clean(translated, name):
    """No marker, no torch, no transformers infrastructure left (the Generic* head
    mixins are runtime/hf/heads.py)."""
    check_clean(translated(name)[0])


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("head", [False, True])
@pytest.mark.parametrize("name", list(FAMILY))
def test_decoder_parity(translated, name, head, impl):
    """Base model (last hidden state, gradients of every parameter) and the causal LM
    (logits), with a padded second sequence."""
    if impl != attention(name, impl):
        pytest.skip(f"torch's {name} has only the eager attention")
    prefix = FAMILY[name][0]
    cls, keys = (f"{prefix}ForCausalLM", ("logits",)) if head else (f"{prefix}Model", ("last_hidden_state",))
    t_in, j_in = inputs()
    check_parity(translated(name), cls, config(name), impl, t_in, j_in, keys, grads=not head)


@pytest.mark.parametrize("name", list(FAMILY))
def test_generic_heads(translated, name):
    """The heads a file builds from transformers' Generic* mixins (sequence classification
    at the last token that is not padding, question answering, token classification):
    outputs and the gradients of every parameter, with padding tokens (pad_token_id 0)."""
    import jax.numpy as jnp
    from transformers import modeling_layers

    mixins = {modeling_layers.GenericForSequenceClassification: ("logits",),
              modeling_layers.GenericForQuestionAnswering: ("start_logits", "end_logits"),
              modeling_layers.GenericForTokenClassification: ("logits",)}
    tmod = translated(name)[1]
    heads = [(n, keys) for n, c in vars(tmod).items() if isinstance(c, type) and c.__module__ == tmod.__name__
             for mixin, keys in mixins.items() if issubclass(c, mixin)]
    if not heads:
        pytest.skip(f"{name} builds no head from the Generic* mixins")
    ids = np.random.default_rng(0).integers(1, 97, (2, 7))
    mask = np.ones((2, 7), np.int64)
    mask[1, 4:] = ids[1, 4:] = 0  # right padding with the pad token
    t_in = dict(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), use_cache=False)
    j_in = dict(input_ids=jnp.asarray(ids), attention_mask=jnp.asarray(mask), use_cache=False)
    for cls, keys in heads:
        check_parity(translated(name), cls, config(name, pad_token_id=0, num_labels=3), attention(name), t_in, j_in,
                     keys)


ROPE = {
    "linear": {"rope_type": "linear", "rope_theta": 100.0, "factor": 2.0},
    "llama3": {"rope_type": "llama3", "rope_theta": 500.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 8},
    "yarn": {"rope_type": "yarn", "rope_theta": 100.0, "factor": 4.0, "original_max_position_embeddings": 16},
}


@pytest.mark.parametrize("rope", list(ROPE))
def test_llama_rope_types(translated, rope):
    """ROPE_INIT_FUNCTIONS' parameterisations through LlamaRotaryEmbedding (yarn scales
    cos/sin by its attention factor), under jit too."""
    t_in, j_in = inputs()
    check_parity(translated("llama"), "LlamaModel", config("llama", rope_parameters=ROPE[rope]), "sdpa", t_in, j_in,
                 ("last_hidden_state",), grads=False)


@pytest.mark.parametrize("rope", ["dynamic", "longrope"])
def test_llama_rope_growing_with_the_sequence(translated, rope):
    """dynamic and longrope RoPE recompute their frequencies from the sequence length, past
    the configured one here (7 > 4): eagerly at parity; under jit that length is not known,
    which raises (rather than running with the frequencies of another length)."""
    from flax import nnx

    params = {"dynamic": {"rope_type": "dynamic", "rope_theta": 100.0, "factor": 2.0},
              "longrope": {"rope_type": "longrope", "rope_theta": 100.0, "original_max_position_embeddings": 4,
                           "long_factor": [1.0, 2.0, 3.0, 4.0], "short_factor": [1.0, 1.5, 2.0, 2.5]}}[rope]
    cfg = config("llama", rope_parameters=params)
    cfg.max_position_embeddings = 4 if rope == "dynamic" else 8
    t_model, j_model = models(translated("llama"), "LlamaModel", cfg, "sdpa")
    t_in, j_in = inputs()
    short_t, short_j = inputs(3)
    for t, j in ((t_in, j_in), (short_t, short_j), (t_in, j_in)):  # growth, reset, growth
        with torch.no_grad():
            expected = t_model(**t).last_hidden_state.numpy()
        assert_close(expected, np.asarray(j_model(**j).last_hidden_state), what=rope)
    with pytest.raises(NotImplementedError, match="run it eagerly"):
        nnx.jit(lambda m, ids, mask: m(input_ids=ids, attention_mask=mask, use_cache=False))(
            j_model, j_in["input_ids"], j_in["attention_mask"])


def test_sliding_window_matters(translated):
    """The sliding window (3 keys of 7) changes Mistral's output: the parity above checks it."""
    t_in, _ = inputs()
    with torch.no_grad():
        windowed = models(translated("mistral"), "MistralModel", config("mistral"), "eager")[0]
        full = models(translated("mistral"), "MistralModel", config("mistral", sliding_window=None), "eager")[0]
        diff = windowed(**t_in).last_hidden_state - full(**t_in).last_hidden_state
    assert diff.abs().max() > 1e-2


@pytest.mark.parametrize("name", list(FAMILY))
def test_configuration_files_keep_their_plain_python(name):
    """A run following the modeling file's relative import also translates its
    configuration file (the corpus does): the field validators and the RoPE parameters'
    TypedDict are plain Python, kept as imports of transformers, not marked."""
    from pathlib import Path

    import torch2nnx

    src = Path(transformers.__file__).parent / "models" / name / f"configuration_{name}.py"
    result = torch2nnx.translate(src.read_text(), str(src), module_name=f"configuration_{name}_nnx",
                                 package=f"transformers.models.{name}")
    assert result.todo_count == 0 and "TODO(torch2nnx)" not in result.code, [d.format() for d in result.diagnostics]
    compile(result.code, str(src), "exec")
