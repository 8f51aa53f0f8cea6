"""Data and training state crossing between kept torch code and the
translation, copied into translated files like helpers.py.

Batches: a torch data pipeline (``DataLoader``, ``Dataset``) is kept as torch
code; ``from_torch_batches(loader)`` yields its batches with every torch
tensor (in nested tuples, lists and dicts) converted once to a jax array.

Training state: ``torch.save(obj, path)`` / ``torch.load(path)`` write and
read the pytree (model and optimizer state dicts as nested dicts of arrays,
epochs, losses) as an Orbax checkpoint, a directory at the absolute path
(translator/state_io.py).
"""

import jax
import jax.numpy as jnp
from flax import nnx


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


def model_state_dict(model):
    """A translated model's ``state_dict()`` as torch.save saves it: its state
    (parameters, buffers, batch statistics; not its random streams, which
    torch's does not hold either) as a nested dict of arrays."""
    return nnx.to_pure_dict(nnx.state(model, nnx.Not(nnx.RngState)))


def load_model_state(model, state_dict, strict=True):
    """``model.load_state_dict(sd)``: a state model_state_dict gave (saved and
    loaded again) goes back into the model; a torch state dict (torch tensors,
    torch's keys) is ported by the weights module written beside this file."""
    if any(hasattr(v, "detach") for v in jax.tree.leaves(state_dict)):
        return weights_module().load_torch_state_dict(model, state_dict, strict=strict)
    state = nnx.state(model, nnx.Not(nnx.RngState))
    nnx.replace_by_pure_dict(state, state_dict)
    nnx.update(model, state)


def torch_save(obj, f):
    """torch.save of a pytree of arrays, numbers and strings: an Orbax
    checkpoint (a directory) at ``f`` made absolute, replacing one there."""
    import os

    import orbax.checkpoint as ocp

    with ocp.PyTreeCheckpointer() as checkpointer:
        checkpointer.save(os.path.abspath(os.fspath(f)), obj, force=True)


def torch_load(f):
    """torch.load: what torch_save wrote (its arrays as jax arrays); a torch
    file (pretrained weights) is read with torch, tensors only."""
    import os

    path = os.path.abspath(os.fspath(f))
    if not os.path.isdir(path):
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    import warnings

    import orbax.checkpoint as ocp

    with ocp.PyTreeCheckpointer() as checkpointer, warnings.catch_warnings():
        # restored as saved, on this host's default device: nothing to warn about
        warnings.filterwarnings("ignore", message="Sharding info not provided")
        return checkpointer.restore(path)
