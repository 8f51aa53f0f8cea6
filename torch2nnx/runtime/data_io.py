"""Data and training state crossing between kept torch code and the
translation, copied into translated files like helpers.py.

Batches: a torch data pipeline (``DataLoader``, ``Dataset``) is kept as torch
code; ``from_torch_batches(loader)`` yields its batches with every torch
tensor (in nested tuples, lists and dicts) converted once to a jax array.
"""

import jax.numpy as jnp


def from_torch_batch(batch, channels_last=()):
    """A batch of a torch data pipeline with its tensors as jax arrays (the
    same nesting of tuples, lists and dicts); other values as they are.
    Floating tensors of a rank in ``channels_last`` (where the translated
    model takes its input channels-last) move their channel axis last."""
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(from_torch_batch(b, channels_last) for b in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(from_torch_batch(b, channels_last) for b in batch)
    if isinstance(batch, dict):
        return type(batch)((k, from_torch_batch(v, channels_last)) for k, v in batch.items())
    if hasattr(batch, "detach") and hasattr(batch, "numpy"):  # a torch tensor
        x = jnp.asarray(batch.detach().cpu().numpy())
        if x.ndim in channels_last and jnp.issubdtype(x.dtype, jnp.floating):
            x = jnp.moveaxis(x, 1, -1)
        return x
    return batch


def from_torch_batches(batches, channels_last=()):
    """The batches of a kept torch data loader, converted one by one."""
    for batch in batches:
        yield from_torch_batch(batch, channels_last)
