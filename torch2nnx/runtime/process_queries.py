"""torch utilities with a meaning in one JAX process: sequence ops whose result
size depends on the values (eager only), and torch.hub's cache directory."""

import jax.numpy as jnp
import numpy as np


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """torch.cosine_similarity: each input divided by its norm (at least eps) along dim."""
    x1, x2 = jnp.broadcast_arrays(x1, x2)
    n1 = jnp.maximum(jnp.linalg.norm(x1, axis=dim, keepdims=True), eps)
    n2 = jnp.maximum(jnp.linalg.norm(x2, axis=dim, keepdims=True), eps)
    return jnp.sum((x1 / n1) * (x2 / n2), axis=dim)


def unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    """torch.unique_consecutive over the flattened input (dim=None): the first of
    each run of equal values. The size depends on the values: eager only."""
    if dim is not None:
        raise NotImplementedError("unique_consecutive with dim: only dim=None is translated")
    flat = np.asarray(x).reshape(-1)
    starts = np.concatenate([[True], flat[1:] != flat[:-1]]) if flat.size else np.zeros(0, bool)
    out = [jnp.asarray(flat[starts])]
    if return_inverse:
        out.append(jnp.asarray((np.cumsum(starts) - 1).reshape(np.shape(x))))
    if return_counts:
        out.append(jnp.asarray(np.diff(np.append(np.flatnonzero(starts), flat.size))))
    return out[0] if len(out) == 1 else tuple(out)


def hub_dir():
    """torch.hub.get_dir: $TORCH_HOME/hub, TORCH_HOME defaulting to
    $XDG_CACHE_HOME/torch (~/.cache/torch), as torch computes it."""
    import os

    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return os.path.join(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch"))), "hub")


def hub_hash_regex():
    """torch.hub.HASH_REGEX: the hash in a checkpoint's file name (resnet18-5c106cde.pth)."""
    import re

    return re.compile(r"-([a-f0-9]*)\.")
