"""Tied embeddings of the translated transformers models (issue 14): with
``config.tie_word_embeddings`` (GPT-2's and Gemma's default) the causal LM's head
reads the token embedding's one nnx.Param (PreTrainedModel.tie_weights of
runtime/hf/pretrained.py, from the class's ``_tied_weights_keys``), as torch's
shares one Parameter: logits and the gradients of every parameter at parity
(the tied one's gradient sums both uses), the state_dict's two keys landing on
it, and a ``save_pretrained`` checkpoint (the tied key saved once) loaded strictly.
"""

from __future__ import annotations

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402

from test_transformers_decoders import config as decoder_config  # noqa: E402
from test_transformers_models import check_parity, gpt2_config, models, translations  # noqa: E402

torch.set_num_threads(1)

# file -> (causal LM class, its tiny configuration, the head's and the embedding's torch keys)
TIED = {
    "gpt2": ("GPT2LMHeadModel", gpt2_config, "lm_head.weight", "transformer.wte.weight"),
    "gemma": ("GemmaForCausalLM", lambda: decoder_config("gemma"), "lm_head.weight", "model.embed_tokens.weight"),
}


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translations(tmp_path_factory)


@pytest.mark.parametrize("name", list(TIED))
def test_tied_head_is_one_parameter(translated, name):
    import jax
    from flax import nnx

    cls, cfg, head, embed = TIED[name]
    t_model, j_model = models(translated(name), cls, cfg(), "eager")
    assert cfg().tie_word_embeddings and t_model.get_parameter(head) is t_model.get_parameter(embed)
    params = nnx.state(j_model, nnx.Param)
    assert len(jax.tree_util.tree_leaves(params)) == len(list(t_model.parameters()))  # torch's count: once
    keys = {k: v for k, v, _, _ in translated(name)[3].torch_key_map(j_model)}
    assert keys[head] is keys[embed]
    # untied, two parameters again
    t_untied, j_untied = models(translated(name), cls, cfg_untied(cfg), "eager")
    assert len(jax.tree_util.tree_leaves(nnx.state(j_untied, nnx.Param))) == len(list(t_untied.parameters())) \
        == len(list(t_model.parameters())) + 1


def cfg_untied(cfg):
    c = cfg()
    c.tie_word_embeddings = False
    return c


@pytest.mark.parametrize("name", list(TIED))
def test_tied_parity_and_gradients(translated, name):
    """Logits eagerly and under nnx.jit, and every gradient: the tied parameter's is the
    sum over the embedding and the head, torch's."""
    import jax.numpy as jnp

    cls, cfg, _, _ = TIED[name]
    # no padding token among the inputs: torch gives nn.Embedding(padding_idx)'s row no
    # lookup gradient, nnx.Embed does (a known gap); the tied row's head gradient is compared
    ids = np.random.default_rng(0).integers(3, 97, (2, 7))
    mask = np.ones((2, 7), np.int64)
    mask[1, 4:] = 0
    t_in = dict(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), use_cache=False)
    j_in = dict(input_ids=jnp.asarray(ids), attention_mask=jnp.asarray(mask), use_cache=False)
    check_parity(translated(name), cls, cfg(), "sdpa", t_in, j_in, ("logits",), grads=True)


@pytest.mark.parametrize("name", list(TIED))
def test_save_pretrained_checkpoint_loads(translated, name, tmp_path):
    """save_pretrained keeps the tied tensor under one key: strict loading fills the
    head from it; the logits are torch's."""
    import jax.numpy as jnp
    from flax import nnx

    from harness import assert_close

    cls, cfg, head, embed = TIED[name]
    t_model, _ = models(translated(name), cls, cfg(), "eager")
    t_model.save_pretrained(tmp_path)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "model.safetensors"), "np") as f:
        saved = set(f.keys())
    assert embed in saved and head not in saved
    j_model = getattr(translated(name)[2], cls)(cfg(), rngs=nnx.Rngs(1))
    translated(name)[3].load_torch_checkpoint(j_model, str(tmp_path / "model.safetensors"), strict=True)
    j_model.eval()
    ids = np.random.default_rng(3).integers(3, 90, (2, 6))
    with torch.no_grad():
        expected = t_model(input_ids=torch.from_numpy(ids), use_cache=False).logits.numpy()
    assert_close(expected, np.asarray(j_model(input_ids=jnp.asarray(ids), use_cache=False).logits), what=name)


@pytest.mark.parametrize("name", ["gpt2"])
def test_tied_key_left_out_of_a_state_dict(translated, name):
    """load_torch_state_dict: the tied head's key may be missing (the embedding's fills
    the one parameter); both missing is reported, as any missing parameter is."""
    cls, cfg, head, embed = TIED[name]
    t_model, j_model = models(translated(name), cls, cfg(), "eager")
    load = translated(name)[3].load_torch_state_dict
    state = t_model.state_dict()
    load(j_model, {k: v for k, v in state.items() if k != head}, strict=True)
    with pytest.raises(ValueError, match=f"missing keys: .*{head}"):
        load(j_model, {k: v for k, v in state.items() if k not in (head, embed)}, strict=True)
