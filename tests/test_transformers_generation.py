"""KV caches and greedy generation of the translated decoder LMs (issue 14):
transformers' DynamicCache as runtime/hf/cache.py (keys and values grown by
the translated attention's ``cache.update``, masks offset by the cache's
length) and GenerationMixin.generate as runtime/hf/generation.py. The tokens
of ``generate(input_ids, max_new_tokens=16, do_sample=False)`` are exactly
torch's, with and without the cache, for a batch of two (one left-padded), for
the Llama family's files (test_transformers_decoders.FAMILY) and GPT-2;
eos pads finished sequences and stops generation as torch's does; a cached
forward, one token at a time, gives torch's logits eagerly and under nnx.jit.
"""

from __future__ import annotations

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402

from harness import assert_close  # noqa: E402
from test_transformers_decoders import FAMILY, attention, config as decoder_config  # noqa: E402
from test_transformers_models import gpt2_config, models, translations  # noqa: E402

torch.set_num_threads(1)

# the causal LM of each file, and its tiny configuration
LMS = {name: (f"{prefix}ForCausalLM", lambda name=name, **kw: decoder_config(name, **kw))
       for name, (prefix, _) in FAMILY.items()}
LMS["gpt2"] = ("GPT2LMHeadModel", lambda **kw: _set(gpt2_config(), **kw))


def _set(cfg, **kw):
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    return translations(tmp_path_factory)


def prompt(padded):
    """Two prompts of 7 tokens (no pad token among them); the second left-padded by 3."""
    ids = np.random.default_rng(0).integers(3, 97, (2, 7))
    mask = np.ones((2, 7), np.int64)
    if padded:
        mask[1, :3] = 0
    return ids, mask


def generate_both(t_model, j_model, ids, mask, **settings):
    import jax.numpy as jnp

    t_kw = {"attention_mask": torch.from_numpy(mask)} if mask is not None else {}
    j_kw = {"attention_mask": jnp.asarray(mask)} if mask is not None else {}
    with torch.no_grad():
        expected = t_model.generate(torch.from_numpy(ids), do_sample=False, **t_kw, **settings).numpy()
    got = np.asarray(j_model.generate(jnp.asarray(ids), do_sample=False, **j_kw, **settings))
    return expected, got


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("name", list(LMS))
def test_greedy_generation(translated, name, padded, use_cache):
    """16 greedy tokens, exactly torch's: the whole sequence each step (use_cache=False) or
    the prompt then one token a step through the KV cache; the left-padded prompt with its
    attention mask (positions counted from it), the other without a mask."""
    cls, cfg = LMS[name]
    # an untied head: with random weights, GPT-2's and Gemma's tied heads repeat one token
    t_model, j_model = models(translated(name), cls, cfg(tie_word_embeddings=False),
                              "eager" if name != "llama" else "sdpa")
    ids, mask = prompt(padded)
    expected, got = generate_both(t_model, j_model, ids, mask if padded else None, max_new_tokens=16,
                                  use_cache=use_cache)
    assert expected.shape == got.shape and (expected == got).all(), (expected[:, 7:], got[:, 7:])
    # not a degenerate run: the two sequences' new tokens differ, and vary along each (the
    # perturbed tiny GPT-2, GPT-NeoX and Gemma 2, soft-capped, repeat a token whatever the
    # prompt: their cached logits are checked step by step below)
    if name not in ("gpt2", "gpt_neox", "gemma2"):
        assert len({tuple(r) for r in expected[:, 7:]}) == 2 and all(len(set(r)) > 2 for r in expected[:, 7:])


@pytest.mark.parametrize("name", ["llama", "qwen3"])
def test_eos_pads_then_stops(translated, name):
    """An eos token finishes its sequence (pad tokens follow it: the config's pad, else the
    first eos); generation stops once every sequence has finished, before 16 tokens."""
    cls, cfg = LMS[name]
    ids, mask = prompt(True)
    t_model, j_model = models(translated(name), cls, cfg(eos_token_id=None, pad_token_id=None), "eager")
    free, _ = generate_both(t_model, j_model, ids, mask, max_new_tokens=16)
    first, second = int(free[0, 7 + 2]), int(free[1, 7 + 5])  # each sequence's own token
    # eos from the config, pad from generate's keyword (a config's pad_token_id is also the
    # embedding's padding row: another model)
    for eos, pad in (([first, second], None), ([first, second], 1), (first, 1)):
        t_model, j_model = models(translated(name), cls, cfg(eos_token_id=eos, pad_token_id=None), "eager")
        expected, got = generate_both(t_model, j_model, ids, mask, max_new_tokens=16,
                                      **({"pad_token_id": pad} if pad is not None else {}))
        assert expected.shape == got.shape and (expected == got).all(), (eos, pad, expected[:, 7:], got[:, 7:])
        done = 7 + 2 + 1
        assert (expected[0, done:] == (pad if pad is not None else first)).all()
        if isinstance(eos, list):  # both finish: generation stops early
            assert expected.shape[1] < 7 + 16


@pytest.mark.parametrize("name", list(LMS))
def test_cached_forward_step_by_step(translated, name):
    """A prompt of 4 tokens (left padding), then 3 tokens one at a time through the cache
    the forward returns: logits at each step as torch's, eagerly and under nnx.jit (the
    cache is a pytree: taken and returned by the jitted forward)."""
    import jax.numpy as jnp
    from flax import nnx

    cls, cfg = LMS[name]
    t_model, j_model = models(translated(name), cls, cfg(), attention(name))
    ids, mask = prompt(True)
    step = nnx.jit(lambda m, i, a, c: m(input_ids=i, attention_mask=a, cache=c, use_cache=True))
    t_cache = j_cache = jit_cache = None
    for end in (4, 5, 6, 7):
        start = 0 if end == 4 else end - 1
        t_in = torch.from_numpy(ids[:, start:end])
        with torch.no_grad():
            t_out = t_model(input_ids=t_in, attention_mask=torch.from_numpy(mask[:, :end]), cache=t_cache,
                            use_cache=True)
        j_in, j_mask = jnp.asarray(ids[:, start:end]), jnp.asarray(mask[:, :end])
        j_out = j_model(input_ids=j_in, attention_mask=j_mask, cache=j_cache, use_cache=True)
        jit_out = step(j_model, j_in, j_mask, jit_cache)
        t_cache, j_cache, jit_cache = t_out.cache, j_out.cache, jit_out.cache
        assert j_cache.get_seq_length() == jit_cache.get_seq_length() == t_cache.get_seq_length() == end
        assert_close(t_out.logits.numpy(), np.asarray(j_out.logits), what=f"{name} step {end}")
        assert_close(t_out.logits.numpy(), np.asarray(jit_out.logits), what=f"{name} step {end} (jit)")
