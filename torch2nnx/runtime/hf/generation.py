"""transformers' GenerationMixin.generate for translated causal LMs: greedy
decoding as torch's ``_sample`` does it with ``do_sample=False``, a Python
loop over the translated forward (eager). The prompt's attention mask (given,
or inferred from the pad token as torch infers it), the position ids counted
from it, a KV cache (``use_cache``, the model's DynamicCache: after the
prompt, one token a step) or the whole sequence each step, and ``eos``:
a finished sequence gets the pad token (the first eos when no pad is set),
and generation stops when every sequence has finished or at the maximum
length. Sampling, beam search and logits processors are not translated:
asking for them raises. Copied into generated files like helpers.py.
"""

import jax.numpy as jnp

def hf_generation_setting(name, given, generation_config, config, default=None):
    """A setting as torch resolves it: generate's keyword, else the generation config's,
    else the model config's (GenerationConfig.from_model_config), else the default."""
    if given.get(name) is not None:
        return given[name]
    for source in (generation_config, config):
        value = getattr(source, name, None) if source is not None else None
        if value is not None:
            return value
    return default


class GenerationMixin:
    """generation.GenerationMixin: ``generate`` by greedy decoding (see the module docstring)."""

    # generate()'s settings that greedy decoding reads; any other keyword raises
    _generation_settings = ("max_new_tokens", "max_length", "do_sample", "num_beams", "use_cache", "eos_token_id",
                            "pad_token_id", "bos_token_id", "return_dict_in_generate")

    def generate(self, inputs=None, generation_config=None, **kwargs):
        input_ids = kwargs.pop("input_ids", inputs)
        attention_mask = kwargs.pop("attention_mask", None)
        config = self.config.get_text_config(decoder=True) if hasattr(self.config, "get_text_config") else self.config
        given = {n: kwargs.pop(n) for n in self._generation_settings if n in kwargs}
        if kwargs:
            raise NotImplementedError(f"generate() with {sorted(kwargs)}: only greedy decoding is translated")
        setting = lambda name, default=None: hf_generation_setting(name, given, generation_config, config, default)
        if setting("do_sample", False) or setting("num_beams", 1) != 1:
            raise NotImplementedError("generate(): only greedy decoding (do_sample=False, num_beams=1) is translated")
        if setting("return_dict_in_generate", False):
            raise NotImplementedError("generate(return_dict_in_generate=True) is not translated")
        if input_ids is None:
            raise NotImplementedError("generate() needs input_ids")
        ids = jnp.asarray(input_ids)
        max_new = setting("max_new_tokens")
        max_length = ids.shape[1] + max_new if max_new is not None else setting("max_length", 20)
        use_cache = setting("use_cache", True)
        eos = setting("eos_token_id")
        eos = None if eos is None else jnp.asarray([eos] if isinstance(eos, int) else list(eos))
        pad = setting("pad_token_id")
        pad = int(eos[0]) if pad is None and eos is not None else pad
        if attention_mask is None:
            # torch infers the mask from the pad token when it appears and is no eos
            infer = pad is not None and bool(jnp.any(ids == pad)) and (eos is None or not bool(jnp.any(eos == pad)))
            attention_mask = (ids != pad) if infer else jnp.ones(ids.shape, jnp.int32)
        mask = jnp.asarray(attention_mask).astype(jnp.int32)
        positions = jnp.where(mask == 0, 0, jnp.cumsum(mask, axis=-1) - 1)
        if bool(jnp.all(mask == 1)):
            mask = None  # no padding: torch drops the mask
        code = type(self).__call__.__code__
        forward = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        extra = {"logits_to_keep": 1} if "logits_to_keep" in forward else {}
        cache_name = "cache" if "cache" in forward else "past_key_values"
        unfinished = jnp.ones((ids.shape[0],), ids.dtype)
        cache = None
        while True:
            step_ids, step_positions = ids, positions
            if cache is not None:  # the prompt is in the cache: the newest token alone
                step_ids, step_positions = ids[:, -1:], positions[:, -1:]
            out = self(input_ids=step_ids, attention_mask=mask, position_ids=step_positions,
                       use_cache=use_cache, **{cache_name: cache}, **extra)
            if use_cache:
                cache = getattr(out, cache_name, None)
            positions = jnp.concatenate([positions, positions[:, -1:] + 1], axis=-1)
            if mask is not None:
                mask = jnp.concatenate([mask, jnp.ones((mask.shape[0], 1), mask.dtype)], axis=-1)
            next_tokens = jnp.argmax(out.logits[:, -1].astype(jnp.float32), axis=-1).astype(ids.dtype)
            if eos is not None:  # finished sequences are padded
                next_tokens = next_tokens * unfinished + pad * (1 - unfinished)
            ids = jnp.concatenate([ids, next_tokens[:, None]], axis=-1)
            if eos is not None:
                unfinished = unfinished * ~jnp.isin(next_tokens, eos)
            if ids.shape[1] >= max_length or not bool(jnp.any(unfinished)):
                return ids
