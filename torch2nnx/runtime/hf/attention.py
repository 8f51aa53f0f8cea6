"""transformers' attention interface (``ALL_ATTENTION_FUNCTIONS``, the sdpa
path of integrations/sdpa_attention.py) and its masks (masking_utils'
``create_bidirectional_mask`` / ``create_causal_mask``) in JAX.

One implementation serves every ``attn_implementation`` other than "eager"
(sdpa, flash, flex: the same math); "eager" is the modeling file's own
``eager_attention_forward``, translated with it. Masks are additive float
masks of shape (batch, 1, query, key) (0 where attended, the dtype's minimum
elsewhere), which the eager path adds to its scores as torch's eager mask is,
or None where nothing is masked. With a KV cache (runtime/hf/cache.py) the
queries' positions start at its length. Copied into
generated files like helpers.py.
"""

import jax
import jax.numpy as jnp


def hf_repeat_kv(x, n_rep):
    """(batch, kv_heads, seq, dim) -> (batch, kv_heads * n_rep, seq, dim), each head repeated in place."""
    return x if n_rep == 1 else jnp.repeat(x, n_rep, axis=1)


def hf_sdpa_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None,
                      position_bias=None, **kwargs):
    """sdpa_attention_forward: softmax(q k^T * scaling + mask) v, returned as (batch, seq, heads, dim)."""
    if kwargs.get("softcap") is not None:
        raise ValueError("`sdpa` attention does not support `softcap`")
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = hf_repeat_kv(key, groups), hf_repeat_kv(value, groups)
    q_len, kv_len = query.shape[2], key.shape[2]
    is_causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    is_causal = bool(q_len > 1 and attention_mask is None and is_causal)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = (query @ jnp.swapaxes(key, -1, -2)) * scale
    if is_causal:  # torch's is_causal: the top-left aligned lower triangle
        scores = jnp.where(jnp.tril(jnp.ones((q_len, kv_len), bool)), scores, -jnp.inf)
    attended = None  # a boolean mask: torch's sdpa gives 0 where a query attends to no key
    for mask in (attention_mask, position_bias):
        if mask is not None and mask.dtype == jnp.bool_:
            # the finite minimum, not -inf: a fully masked row stays finite (and so do its gradients)
            scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
            attended = jnp.any(mask, axis=-1, keepdims=True)
        elif mask is not None:
            scores = scores + mask[..., :kv_len]
    weights = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(query.dtype)
    if attended is not None:
        weights = weights * attended
    if dropout > 0.0:
        rngs = getattr(module, "rngs", None)
        if rngs is None:
            raise NotImplementedError("attention dropout needs the module's rngs")
        keep = jax.random.bernoulli(rngs.dropout(), 1.0 - dropout, weights.shape)
        weights = jnp.where(keep, weights / (1.0 - dropout), 0.0)
    return jnp.swapaxes(weights @ value, 1, 2), None


class ALL_ATTENTION_FUNCTIONS:
    """transformers' registry of attention implementations, by name."""

    @classmethod
    def get_interface(cls, attn_implementation, default):
        if attn_implementation in (None, "eager"):
            return default
        return hf_sdpa_attention  # sdpa, flash_attention_*, flex_attention, paged: one math

    def __class_getitem__(cls, name):
        return hf_sdpa_attention

    @classmethod
    def get(cls, name, default=None):
        return default if name in (None, "eager") else hf_sdpa_attention


def hf_padding_mask(attention_mask, q_len, dtype, causal, past=0, window=None, config=None):
    """A (batch, 1, q, kv) mask: a 2D (batch, kv) padding mask (1/True = attended), and
    the causal triangle when ``causal`` (keys within ``window`` of the query when given:
    masking_utils' sliding_window_overlay); a 4D mask is handed back. Additive (0 or the
    dtype's minimum) for the eager attention, boolean (True = attended) for the others,
    as transformers builds them for ``config._attn_implementation``."""
    if attention_mask is not None and attention_mask.ndim == 4:
        return attention_mask
    keep = None
    if attention_mask is not None:
        keep = attention_mask.astype(bool)[:, None, None, :]
    if causal:
        kv_len = attention_mask.shape[-1] if attention_mask is not None else q_len + past
        kv, q = jnp.arange(kv_len)[None, :], jnp.arange(q_len)[:, None] + past
        tri = kv <= q if window is None else (kv <= q) & (kv > q - window)
        tri = tri[None, None]
        keep = tri if keep is None else keep & tri
    if keep is None:
        return None
    keep = jnp.broadcast_to(keep, (keep.shape[0], 1, q_len, keep.shape[-1]))  # torch's shape
    if getattr(config, "_attn_implementation", None) not in (None, "eager"):
        return keep
    return jnp.where(keep, 0.0, jnp.finfo(dtype).min).astype(dtype)


def create_bidirectional_mask(config, inputs_embeds, attention_mask, encoder_hidden_states=None, cache=None,
                              or_mask_function=None, and_mask_function=None, allow_is_bidirectional_skip=True,
                              **kwargs):
    """masking_utils.create_bidirectional_mask: the padding mask over the keys."""
    if or_mask_function is not None or and_mask_function is not None:
        raise NotImplementedError("mask functions are not translated")
    embeds = encoder_hidden_states if encoder_hidden_states is not None else inputs_embeds
    return hf_padding_mask(attention_mask, inputs_embeds.shape[1], embeds.dtype, causal=False, config=config)


def create_causal_mask(config, inputs_embeds, attention_mask, cache=None, position_ids=None,
                       or_mask_function=None, and_mask_function=None, **kwargs):
    """masking_utils.create_causal_mask: the causal triangle (offset by a KV cache's length) and padding."""
    return hf_causal_mask(config, inputs_embeds, attention_mask, cache, or_mask_function, and_mask_function, None,
                          kwargs)


def create_sliding_window_causal_mask(config, inputs_embeds, attention_mask, cache=None, position_ids=None,
                                      or_mask_function=None, and_mask_function=None, **kwargs):
    """masking_utils.create_sliding_window_causal_mask: the causal mask
    keeping, for each query, the ``config.sliding_window`` latest keys (itself included)."""
    window = getattr(config, "sliding_window", None)
    if window is None:
        raise ValueError("Could not find a `sliding_window` argument in the config, or it is not set")
    return hf_causal_mask(config, inputs_embeds, attention_mask, cache, or_mask_function, and_mask_function, window,
                          kwargs)


def hf_causal_mask(config, inputs_embeds, attention_mask, cache, or_mask_function, and_mask_function, window, kwargs):
    if cache is None:
        cache = kwargs.get("past_key_values")
    if or_mask_function is not None or and_mask_function is not None:
        raise NotImplementedError("mask functions are not translated")
    # with a KV cache the queries follow the keys already seen: their positions are offset by it
    past = cache.get_seq_length() if cache is not None else 0
    return hf_padding_mask(attention_mask, inputs_embeds.shape[1], inputs_embeds.dtype, causal=True, past=past,
                           window=window, config=config)
