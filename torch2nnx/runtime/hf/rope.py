"""transformers' modeling_rope_utils in JAX: ``ROPE_INIT_FUNCTIONS`` (the
inverse frequencies and attention scaling of each ``rope_type``, computed
from the config as torch computes them, in float32) and the
``dynamic_rope_update`` decorator of the rotary embedding classes' forward.
The "default" type is the modeling file's own ``compute_default_rope_parameters``
(torch code, translated with it). Copied into generated files like helpers.py.
"""

import math

import jax
import jax.numpy as jnp


def hf_rope_setup(config, layer_type, head_dim_or=True):
    """(the config, its rope parameters, base, rotary dim) as transformers' functions read them
    (``head_dim_or``: ``getattr(config, "head_dim", None) or ...`` where the function has it)."""
    if layer_type is not None:
        try:  # per-layer configs (gemma4), as transformers tries
            config = config.per_layer_config[layer_type]
        except (ValueError, AttributeError):
            pass
    config.standardize_rope_params()
    params = config.rope_parameters[layer_type] if layer_type is not None else config.rope_parameters
    fallback = config.hidden_size // config.num_attention_heads
    head_dim = (getattr(config, "head_dim", None) or fallback) if head_dim_or else getattr(config, "head_dim", fallback)
    return config, params, params["rope_theta"], int(head_dim * params.get("partial_rotary_factor", 1.0))


def hf_rope_inv_freq(base, dim):
    """1 / base^(2i/dim) over i < dim/2, in float32."""
    return 1.0 / (base ** (jnp.arange(0, dim, 2, dtype=jnp.float32) / dim))


def hf_rope_linear(config, device=None, seq_len=None, layer_type=None):
    """_compute_linear_scaling_rope_parameters: the default frequencies over ``factor``."""
    _, params, base, dim = hf_rope_setup(config, layer_type)
    return hf_rope_inv_freq(base, dim) / params["factor"], 1.0


def hf_rope_dynamic(config, device=None, seq_len=None, layer_type=None):
    """_compute_dynamic_ntk_parameters: the base grown with the sequence (NTK scaling)."""
    config, params, base, dim = hf_rope_setup(config, layer_type, head_dim_or=False)
    factor, max_pos = params["factor"], config.max_position_embeddings
    seq_len = max_pos if seq_len is None else max(int(seq_len), max_pos)
    base = base * ((factor * seq_len / max_pos) - (factor - 1)) ** (dim / (dim - 2))
    return hf_rope_inv_freq(base, dim), 1.0


def hf_rope_yarn(config, device=None, seq_len=None, layer_type=None):
    """_compute_yarn_parameters: frequencies ramped between interpolated and extrapolated."""
    config, params, base, dim = hf_rope_setup(config, layer_type, head_dim_or=False)
    factor, attention_factor = params["factor"], params.get("attention_factor")
    mscale, mscale_all_dim = params.get("mscale"), params.get("mscale_all_dim")
    original = params["original_max_position_embeddings"]
    if factor is None:
        factor = config.max_position_embeddings / original

    def get_mscale(scale, m=1):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = float(get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim))
        else:
            attention_factor = get_mscale(factor)
    beta_fast, beta_slow = params.get("beta_fast") or 32, params.get("beta_slow") or 1

    def correction_dim(rotations):
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if config.rope_parameters.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # transformers' guard against a zero-width ramp
    ramp = jnp.clip((jnp.arange(dim // 2, dtype=jnp.float32) - low) / (high - low), 0, 1)
    pos_freqs = base ** (jnp.arange(0, dim, 2, dtype=jnp.float32) / dim)
    extrapolation = 1 - ramp
    inv_freq = (1.0 / (factor * pos_freqs)) * (1 - extrapolation) + (1.0 / pos_freqs) * extrapolation
    return inv_freq, attention_factor


def hf_rope_longrope(config, device=None, seq_len=None, layer_type=None):
    """_compute_longrope_parameters: per-frequency factors, long beyond the original length."""
    config, params, base, dim = hf_rope_setup(config, layer_type, head_dim_or=False)
    factor, attention_factor = params.get("factor"), params.get("attention_factor")
    original = params["original_max_position_embeddings"]
    if factor is None:
        factor = config.max_position_embeddings / original
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
    ext = params["long_factor"] if seq_len and seq_len > original else params["short_factor"]
    shape = jnp.arange(0, dim, 2, dtype=jnp.float32) / dim
    return 1.0 / (jnp.asarray(ext, jnp.float32) * base ** shape), attention_factor


def hf_rope_llama3(config, device=None, seq_len=None, layer_type=None):
    """_compute_llama3_parameters: low frequencies over ``factor``, a smooth ramp to the high ones."""
    _, params, base, dim = hf_rope_setup(config, layer_type)
    inv_freq = hf_rope_inv_freq(base, dim)
    factor, low, high = params["factor"], params["low_freq_factor"], params["high_freq_factor"]
    old_len = params["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old_len / low, old_len / high
    wavelen = 2 * math.pi / inv_freq
    scaled = jnp.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_len / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return jnp.where(medium, smoothed, scaled), 1.0


def hf_rope_proportional(config, device=None, seq_len=None, layer_type=None, head_dim_key="head_dim"):
    """_compute_proportional_rope_parameters: rotated frequencies then zeros (unrotated angles)."""
    if layer_type is not None:
        try:
            config = config.per_layer_config[layer_type]
        except (ValueError, AttributeError):
            pass
    config.standardize_rope_params()
    params = config.rope_parameters[layer_type] if layer_type is not None else config.rope_parameters
    head_dim = getattr(config, head_dim_key, None) or config.hidden_size // config.num_attention_heads
    rope_angles = int(params.get("partial_rotary_factor", 1.0) * head_dim // 2)
    rotated = 1.0 / (params["rope_theta"] ** (jnp.arange(0, 2 * rope_angles, 2, dtype=jnp.float32) / head_dim))
    inv_freq = jnp.concatenate([rotated, jnp.zeros((head_dim // 2 - rope_angles,), jnp.float32)])
    return inv_freq / params.get("factor", 1.0), 1.0


class ROPE_INIT_FUNCTIONS:
    """transformers' registry of RoPE parameterisations, by ``rope_type``."""

    @staticmethod
    def _table():
        return {"linear": hf_rope_linear, "dynamic": hf_rope_dynamic, "yarn": hf_rope_yarn,
                "longrope": hf_rope_longrope, "llama3": hf_rope_llama3, "proportional": hf_rope_proportional}

    def __class_getitem__(cls, name):
        return cls._table()[name]

    @classmethod
    def get(cls, name, default=None):
        return cls._table().get(name, default)

    @classmethod
    def keys(cls):
        return cls._table().keys()


def dynamic_rope_update(rope_forward):
    """modeling_rope_utils.dynamic_rope_update: the rotary forward, its frequencies first
    recomputed for the sequence length where the rope type grows with it ("dynamic",
    "longrope"). That length is read from ``position_ids``' values: those types run eagerly
    (under jit the values are not known, which raises), every other type is the forward."""

    def wrapper(self, x, position_ids, layer_type=None):
        rope_type = self.rope_type if layer_type is None else self.rope_type[layer_type]
        kwargs = {"layer_type": layer_type} if layer_type is not None else {}
        if "dynamic" in rope_type or rope_type == "longrope":
            if isinstance(position_ids, jax.core.Tracer):
                raise NotImplementedError(f"{rope_type!r} RoPE reads the sequence length from position_ids' values "
                                          "(its frequencies depend on it): run it eagerly, not under jit")
            hf_rope_frequency_update(self, rope_type, int(jnp.max(position_ids)) + 1, layer_type)
        return rope_forward(self, x, position_ids, **kwargs)

    wrapper.__name__, wrapper.__doc__ = rope_forward.__name__, rope_forward.__doc__
    return wrapper


def hf_rope_frequency_update(self, rope_type, seq_len, layer_type):
    """dynamic_rope_update's frequency updates (torch's dynamic_frequency_update and
    longrope_frequency_update), on the module's buffers."""
    prefix = "" if layer_type is None else f"{layer_type}_"
    inv_freq = getattr(self, f"{prefix}inv_freq")
    original = getattr(self, f"{prefix}original_inv_freq")
    if rope_type == "longrope":
        max_pos = (self.config.rope_parameters if layer_type is None
                   else self.config.rope_parameters[layer_type])["original_max_position_embeddings"]
        if seq_len > max_pos:
            long_freq, _ = ROPE_INIT_FUNCTIONS[rope_type](self.config, None, seq_len=max_pos + 1,
                                                          layer_type=layer_type)
            inv_freq[...] = long_freq
        else:
            inv_freq[...] = original[...]
        return
    cached = getattr(self, f"{prefix}max_seq_len_cached", self.max_seq_len_cached)
    if seq_len > cached:  # growth
        new, self.attention_scaling = ROPE_INIT_FUNCTIONS[rope_type](self.config, None, seq_len=seq_len,
                                                                      layer_type=layer_type)
        inv_freq[...] = new
        setattr(self, f"{prefix}max_seq_len_cached", seq_len)
    if seq_len < self.original_max_seq_len and cached > self.original_max_seq_len:  # reset
        inv_freq[...] = original[...]
        setattr(self, f"{prefix}max_seq_len_cached", self.original_max_seq_len)
