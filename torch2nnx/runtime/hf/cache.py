"""transformers' KV caches (cache_utils ``Cache``, ``DynamicCache``,
``EncoderDecoderCache``) for translated modeling files, in JAX.

A cache is a Python object the translated attention calls
``cache.update(keys, values, layer_idx)`` on: each layer's keys and values
grow by concatenation along the sequence axis and the whole of them is
returned, as torch's ``DynamicLayer`` does. Sliding-window layers keep every
key too (torch keeps the last ``window - 1``): the sliding-window mask hides
the older ones, so attention computes the same. Caches are pytrees (the
keys and values their leaves), so a cached forward runs under ``nnx.jit``,
taking and returning one. Copied into generated files like helpers.py.
"""

import jax
import jax.numpy as jnp


class HFCacheLayer:
    """cache_utils.DynamicLayer: one layer's keys and values, (batch, heads, seq, dim)."""

    is_sliding = False
    is_linear = False
    is_dummy = False

    def __init__(self, keys=None, values=None):
        self.keys = keys
        self.values = values

    @property
    def is_initialized(self):
        return self.keys is not None

    def update(self, key_states, value_states, *args, **kwargs):
        if self.keys is None:
            self.keys, self.values = key_states, value_states
        else:
            self.keys = jnp.concatenate([self.keys, key_states], axis=-2)
            self.values = jnp.concatenate([self.values, value_states], axis=-2)
        return self.keys, self.values

    def get_seq_length(self):
        return 0 if self.keys is None else self.keys.shape[-2]

    def get_mask_sizes(self, query_length):
        return self.get_seq_length() + query_length, 0

    def get_max_length(self):
        return -1

    def crop(self, tokens_to_remove):
        if tokens_to_remove > 0:
            raise ValueError("crop takes a negative number of tokens to remove")
        if tokens_to_remove and self.keys is not None:
            self.keys, self.values = self.keys[..., :tokens_to_remove, :], self.values[..., :tokens_to_remove, :]

    def batch_select_indices(self, indices):
        if self.keys is not None:
            self.keys, self.values = self.keys[indices], self.values[indices]

    def reorder_cache(self, beam_idx):
        self.batch_select_indices(beam_idx)


@jax.tree_util.register_pytree_node_class
class Cache:
    """cache_utils.Cache: a list of layers, grown as layers are updated."""

    def __init__(self, layers=None, layer_class_to_replicate=None, offloading=False, offload_only_non_sliding=True,
                 **kwargs):
        self.layers = list(layers) if layers is not None else []

    def tree_flatten(self):
        return [(layer.keys, layer.values) for layer in self.layers], None

    @classmethod
    def tree_unflatten(cls, aux, children):
        out = object.__new__(cls)
        out.layers = [HFCacheLayer(k, v) for k, v in children]
        return out

    def __len__(self):
        return len(self.layers)

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None, **kwargs):
        """The layer's keys and values with these appended: what the attention attends to."""
        while len(self.layers) <= layer_idx:
            self.layers.append(HFCacheLayer())
        return self.layers[layer_idx].update(key_states, value_states)

    def get_seq_length(self, layer_idx=0):
        return self.layers[layer_idx].get_seq_length() if layer_idx < len(self.layers) else 0

    def get_mask_sizes(self, query_length, layer_idx=0):
        if layer_idx >= len(self.layers):
            return query_length, 0
        return self.layers[layer_idx].get_mask_sizes(query_length)

    def get_query_offset(self, layer_idx=0):
        return self.get_seq_length(layer_idx)

    def get_max_length(self, layer_idx=None):
        return -1

    @property
    def is_initialized(self):
        return len(self.layers) > 0 and all(layer.is_initialized for layer in self.layers)

    @property
    def is_sliding(self):
        return [False] * len(self.layers)

    @property
    def is_linear(self):
        return [False] * len(self.layers)

    @property
    def is_dummy(self):
        return [False] * len(self.layers)

    is_compileable = False

    def has_previous_state(self, layer_idx=None, state_idx=None):
        return self.get_seq_length(layer_idx or 0) > 0

    def reset(self):
        self.layers = []

    def crop(self, tokens_to_remove):
        for layer in self.layers:
            layer.crop(tokens_to_remove)

    def batch_select_indices(self, indices):
        for layer in self.layers:
            layer.batch_select_indices(indices)

    def reorder_cache(self, beam_idx):
        self.batch_select_indices(beam_idx)


@jax.tree_util.register_pytree_node_class
class DynamicCache(Cache):
    """cache_utils.DynamicCache: layers growing with each forward (``config`` is
    accepted; sliding-window layers keep all their keys, the mask windows them)."""

    def __init__(self, ddp_cache_data=None, config=None, offloading=False, offload_only_non_sliding=False):
        super().__init__()
        for k, v, *_ in ddp_cache_data or ():
            self.layers.append(HFCacheLayer(k, v))


@jax.tree_util.register_pytree_node_class
class EncoderDecoderCache(Cache):
    """cache_utils.EncoderDecoderCache: a self-attention cache and a cross-attention one."""

    def __init__(self, self_attention_cache=None, cross_attention_cache=None):
        self.self_attention_cache = self_attention_cache if self_attention_cache is not None else DynamicCache()
        self.cross_attention_cache = cross_attention_cache if cross_attention_cache is not None else DynamicCache()
        self.is_updated = {i: layer.is_initialized for i, layer in enumerate(self.cross_attention_cache.layers)}

    def tree_flatten(self):
        return (self.self_attention_cache, self.cross_attention_cache), tuple(sorted(self.is_updated.items()))

    @classmethod
    def tree_unflatten(cls, aux, children):
        out = object.__new__(cls)
        out.self_attention_cache, out.cross_attention_cache = children
        out.is_updated = dict(aux)
        return out

    @property
    def layers(self):
        return self.self_attention_cache.layers

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None, **kwargs):
        return self.self_attention_cache.update(key_states, value_states, layer_idx)

    def reset(self):
        self.self_attention_cache.reset()
        self.cross_attention_cache.reset()
        self.is_updated = {}

    def crop(self, tokens_to_remove):
        self.self_attention_cache.crop(tokens_to_remove)

    def batch_select_indices(self, indices):
        self.self_attention_cache.batch_select_indices(indices)
        self.cross_attention_cache.batch_select_indices(indices)
