"""torch's scatter and index updates as functional ``.at[...]`` updates: the
result is the new array (an in-place form rebinds or writes it back)."""

import jax.numpy as jnp


def scatter_index(index, dim):
    """The ``.at[]`` index of torch's scatter along ``dim``: every position of
    ``index``, its ``dim`` coordinate replaced by the index's value there."""
    idx = list(jnp.indices(index.shape, sparse=True))
    idx[dim] = index
    return tuple(idx)


def scatter_source(src, index, dtype):
    """The part of ``src`` that torch's scatter reads: ``index``'s extent from the
    front of each dim (a scalar value is used as it is)."""
    src = jnp.asarray(src, dtype)
    return src if src.ndim == 0 else src[tuple(slice(0, s) for s in index.shape)]


def scatter(input, dim, index, src, reduce=None):
    """torch.scatter (src or value form), ``reduce`` None, 'add' or 'multiply'."""
    at = input.at[scatter_index(index, dim)]
    value = scatter_source(src, index, input.dtype)
    if reduce is None:
        return at.set(value)
    if reduce == "add":
        return at.add(value)
    if reduce == "multiply":
        return at.multiply(value)
    raise ValueError(f"scatter: reduce={reduce!r} (torch takes 'add' or 'multiply')")


def scatter_identity(reduce, dtype):
    """The value a reduction starts from where torch leaves the input out (include_self=False)."""
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if jnp.issubdtype(dtype, jnp.inexact):
        return -jnp.inf if reduce == "amax" else jnp.inf
    info = jnp.iinfo(dtype)
    return info.min if reduce == "amax" else info.max


def scatter_reduce(input, dim, index, src, reduce, include_self=True):
    """torch.scatter_reduce: 'sum', 'prod', 'mean', 'amax' or 'amin' of the values
    scattered to each position, with the input's own value unless include_self=False
    (a position nothing is scattered to keeps the input's value)."""
    at_method = {"sum": "add", "prod": "multiply", "amax": "max", "amin": "min"}
    if reduce not in ("mean",) + tuple(at_method):
        raise ValueError(f"scatter_reduce: reduce={reduce!r}")
    idx = scatter_index(index, dim)
    value = scatter_source(src, index, input.dtype)
    base = input if include_self else input.at[idx].set(scatter_identity(reduce, input.dtype))
    if reduce != "mean":
        return getattr(base.at[idx], at_method[reduce])(value)
    total = base.at[idx].add(value)
    count = jnp.zeros(input.shape, jnp.int32).at[idx].add(1) + (1 if include_self else 0)
    safe = jnp.maximum(count, 1).astype(input.dtype)
    mean = total // safe if jnp.issubdtype(input.dtype, jnp.integer) else total / safe  # torch floors integers
    return jnp.where(count > 0, mean, input)


def index_along(ndim, dim, index):
    idx = [slice(None)] * ndim
    idx[dim] = index
    return tuple(idx)


def index_add(input, dim, index, source, alpha=1):
    """torch.index_add: source's slices along ``dim`` added at ``index`` (times alpha)."""
    return input.at[index_along(input.ndim, dim, index)].add(source if alpha == 1 else alpha * source)


def index_copy(input, dim, index, source):
    return input.at[index_along(input.ndim, dim, index)].set(source)


def index_fill(input, dim, index, value):
    return input.at[index_along(input.ndim, dim, index)].set(value)


def index_put(input, indices, values, accumulate=False):
    """torch.index_put: ``input[indices] = values`` (``+=`` with accumulate, where
    repeated indices add up as in torch)."""
    at = input.at[tuple(indices)]
    return at.add(values) if accumulate else at.set(values)


def masked_scatter(input, mask, source):
    """torch.masked_scatter: the positions where ``mask`` holds take ``source``'s
    elements in order (row-major), the others keep the input's."""
    shape = jnp.broadcast_shapes(input.shape, mask.shape)
    flat = jnp.broadcast_to(mask, shape).reshape(-1)
    taken = jnp.ravel(source)[jnp.maximum(jnp.cumsum(flat) - 1, 0)]
    return jnp.where(flat, taken.astype(input.dtype), jnp.broadcast_to(input, shape).reshape(-1)).reshape(shape)


def flat_put(input, index, source, accumulate=False):
    """torch.put: the input seen flat, ``source``'s elements written (or added) at ``index``."""
    at = jnp.ravel(input).at[jnp.ravel(index)]
    flat = jnp.ravel(source).astype(input.dtype)
    return (at.add(flat) if accumulate else at.set(flat)).reshape(input.shape)
