"""F.grid_sample and F.affine_grid on channels-last images: torch's coordinate
conventions (normalised [-1, 1] grids, ``align_corners``, padding modes) spelled
as gathers, so values and gradients (to the image and to the grid) match."""

import jax.numpy as jnp
import numpy as np


def _reflect(c, low2, high2):
    """torch's reflect_coordinates: ``c`` mirrored into [low2 / 2, high2 / 2]."""
    if low2 == high2:
        return jnp.zeros_like(c)
    lo, span = low2 / 2, (high2 - low2) / 2
    c = jnp.abs(c - lo)
    extra = jnp.fmod(c, span)
    flips = jnp.floor(c / span)
    return jnp.where(jnp.fmod(flips, 2) == 0, extra + lo, span - extra + lo)


def _grid_source(c, size, padding_mode, align_corners):
    """A normalised grid coordinate as a position in pixels of an axis of ``size``."""
    c = ((c + 1) / 2) * (size - 1) if align_corners else ((c + 1) * size - 1) / 2
    if padding_mode == "border":
        c = jnp.clip(c, 0, size - 1)
    elif padding_mode == "reflection":
        c = _reflect(c, 0, 2 * (size - 1)) if align_corners else _reflect(c, -1, 2 * size - 1)
        c = jnp.clip(c, 0, size - 1)
    elif padding_mode != "zeros":
        raise NotImplementedError(f"grid_sample padding_mode {padding_mode!r}")
    return c


def grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """F.grid_sample on a channels-last ``x`` (N, *spatial, C); ``grid`` is torch's
    (N, *out, n) with the coordinates (x, y[, z]) indexing the last spatial axis first.
    Returns (N, *out, C). Modes ``bilinear`` (trilinear at rank 5) and ``nearest``
    (rounded half to even, as torch's nearbyint)."""
    n = x.ndim - 2
    sizes = x.shape[1:-1]
    coords = [_grid_source(grid[..., n - 1 - i], sizes[i], padding_mode, bool(align_corners)) for i in range(n)]
    batch = jnp.arange(x.shape[0]).reshape((-1,) + (1,) * (grid.ndim - 2))

    def gather(idx):
        valid = jnp.ones(idx[0].shape, bool)
        for i, s in zip(idx, sizes):
            valid = valid & (i >= 0) & (i <= s - 1)
        v = x[(batch,) + tuple(jnp.clip(i, 0, s - 1) for i, s in zip(idx, sizes))]
        return jnp.where(valid[..., None], v, jnp.zeros((), x.dtype))

    if mode == "nearest":
        return gather([jnp.round(c).astype(jnp.int32) for c in coords])
    if mode != "bilinear":
        raise NotImplementedError(f"grid_sample mode {mode!r}")
    lows = [jnp.floor(c) for c in coords]
    fracs = [c - lo for c, lo in zip(coords, lows)]
    out = None
    for corner in np.ndindex(*(2,) * n):  # the 2**n neighbours
        w = None
        for f, k in zip(fracs, corner):
            wk = f if k else 1 - f
            w = wk if w is None else w * wk
        term = gather([(lo + k).astype(jnp.int32) for lo, k in zip(lows, corner)]) * w[..., None].astype(x.dtype)
        out = term if out is None else out + term
    return out


def affine_grid(theta, size, align_corners=None):
    """F.affine_grid: ``theta`` (N, n, n + 1) and torch's ``size`` (N, C, *spatial) give
    torch's grid (N, *spatial, n) of normalised (x, y[, z]) coordinates."""
    spatial = tuple(size[2:])
    n = len(spatial)

    def lin(steps):
        if steps <= 1:
            return jnp.zeros((steps,), theta.dtype)
        r = jnp.linspace(-1.0, 1.0, steps, dtype=theta.dtype)
        return r if align_corners else r * (steps - 1) / steps

    # base coordinates (x, y[, z], 1): x runs along the last spatial axis
    axes = jnp.meshgrid(*[lin(s) for s in spatial], indexing="ij")
    base = jnp.stack(axes[::-1] + [jnp.ones(spatial, theta.dtype)], axis=-1)
    out = jnp.einsum("...k,njk->n...j", base, theta)
    return out.reshape((size[0],) + spatial + (n,))
