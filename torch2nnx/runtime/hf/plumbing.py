"""The rest of what transformers' modeling files call from the library:
chunked feed-forwards, logits slicing, output recorders (KV caches:
cache.py; generation: generation.py). Copied into generated files like
helpers.py.
"""

import jax
import jax.numpy as jnp
from flax import nnx


def apply_chunking_to_forward(forward_fn, chunk_size, chunk_dim, *input_tensors):
    """pytorch_utils.apply_chunking_to_forward: ``forward_fn`` over chunks of
    ``chunk_size`` along ``chunk_dim`` (the same result as one call: a memory saving)."""
    if chunk_size > 0:
        if input_tensors[0].shape[chunk_dim] % chunk_size != 0:
            raise ValueError(f"The dimension to be chunked {input_tensors[0].shape[chunk_dim]} has to be a "
                             f"multiple of the chunk size {chunk_size}")
        n = input_tensors[0].shape[chunk_dim] // chunk_size
        chunks = zip(*(jnp.split(t, n, axis=chunk_dim) for t in input_tensors))
        return jnp.concatenate([forward_fn(*c) for c in chunks], axis=chunk_dim)
    return forward_fn(*input_tensors)


class HFConv1D(nnx.Module):
    """pytorch_utils.Conv1D (GPT-2's projections): a linear layer holding its weight
    as (in, out), under torch's names, so the state_dict ports as it is."""

    def __init__(self, nf, nx, *, rngs):
        self.nf = nf
        self.nx = nx
        self.weight = nnx.Param(0.02 * jax.random.normal(rngs.params(), (nx, nf)))
        self.bias = nnx.Param(jnp.zeros((nf,)))

    def __call__(self, x):
        return x @ self.weight[...] + self.bias[...]


def torch_compilable_check(cond, msg, error_type=ValueError):
    """utils.torch_compilable_check: ``error_type(msg)`` raised when ``cond`` (a bool, an
    array, or a callable giving one) is false. Under ``jax.jit`` the condition is
    traced: the check is then only the assumption it states, as torch's is while
    tracing (``TRANSFORMERS_DISABLE_TORCH_CHECK`` is not read)."""
    if callable(cond):
        cond = cond()
    try:
        ok = bool(jnp.all(jnp.asarray(cond)))
    except jax.errors.ConcretizationTypeError:
        return
    if not ok:
        raise error_type(msg() if callable(msg) else msg)


def capture_outputs(func=None, *, tie_last_hidden_states=True):
    """utils.output_capturing.capture_outputs: torch records the outputs of the
    layers ``_can_record_outputs`` names (hidden states, attentions) through forward
    hooks. Not translated: the forward runs as written, and asking for one of those
    outputs (``output_hidden_states=True``, in the call or the config) raises rather
    than answering None where torch answers the recorded tuple."""

    def wrap(forward):
        import functools

        @functools.wraps(forward)
        def wrapper(self, *args, **kwargs):
            for key in getattr(self, "_can_record_outputs", None) or {}:
                flag = f"output_{'attentions' if key == 'cross_attentions' else key}"
                if kwargs.get(flag, getattr(self.config, flag, False)):
                    raise NotImplementedError(
                        f"{type(self).__name__}: {flag} (outputs torch records with hooks, capture_outputs) is not "
                        "translated")
            return forward(self, *args, **kwargs)

        return wrapper

    return wrap(func) if func is not None else wrap


def slice_logits_to_keep(hidden_states, logits_to_keep):
    """modeling_utils.slice_logits_to_keep: the last ``logits_to_keep`` positions (0: all),
    or the positions a 1D index array names."""
    if isinstance(logits_to_keep, int):
        return hidden_states[:, -logits_to_keep:, :] if logits_to_keep > 0 else hidden_states
    return hidden_states[:, logits_to_keep, :]


class OutputRecorder:
    """utils.output_capturing.OutputRecorder: what torch's hooks would record (kept as
    data; outputs are not captured by hooks in a translation)."""

    def __init__(self, target_class, index=0, layer_name=None, class_name=None, capture_initial_hidden_state=True,
                 num_hidden_layers_key="num_hidden_layers"):
        self.target_class = target_class
        self.index = index
        self.layer_name = layer_name
        self.class_name = class_name
        self.capture_initial_hidden_state = capture_initial_hidden_state
        self.num_hidden_layers_key = num_hidden_layers_key
