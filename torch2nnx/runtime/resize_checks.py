"""Helpers for torch's antialiased resize and its runtime assertions (copied into
generated files, like helpers.py).

``resize_antialiased`` is torch's ``F.interpolate(..., antialias=True)`` (the
``_upsample_{bilinear,bicubic}2d_aa`` kernels): a separable filter whose support
widens with the downsampling factor, weights normalised over the input pixels it
covers (as PIL does); bicubic uses a = -0.5 there. Sizes are static under jit, so
the weights are numpy matrices computed at trace time.

``torch_assert`` / ``torch_assert_async`` are ``torch._assert`` / ``torch._assert_async``: checked wherever the
condition is a concrete value (eager code, and shape conditions under jit); a
condition traced under jit has no value to test before the computation runs, so it
is not checked there.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np


def _aa_filter(mode):
    if mode == "bilinear":
        return 2, lambda x: np.maximum(0.0, 1.0 - np.abs(x))
    a = -0.5  # torch's antialiased bicubic (PIL's), not the -0.75 of its plain bicubic

    def cubic(x):
        x = np.abs(x)
        near = ((a + 2) * x - (a + 3)) * x * x + 1
        far = (((x - 5) * x + 8) * x - 4) * a
        return np.where(x < 1, near, np.where(x < 2, far, 0.0))

    return 4, cubic


def aa_resize_weights(size_in, size_out, mode, align_corners, scale_factor=None):
    """(size_out, size_in) weights of torch's antialiased resize along one axis."""
    if align_corners:
        scale = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
    else:
        scale = 1.0 / scale_factor if scale_factor else size_in / size_out
    interp_size, kernel = _aa_filter(mode)
    support = interp_size * 0.5 * scale if scale >= 1.0 else interp_size * 0.5
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    w = np.zeros((size_out, size_in), np.float64)
    for i in range(size_out):
        center = scale * (i + 0.5)
        # C++ casts truncate toward zero, as int() does
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), size_in)
        j = np.arange(lo, hi)
        row = kernel((j - center + 0.5) * invscale)
        total = row.sum()
        w[i, lo:hi] = row / total if total != 0.0 else row
    return w.astype(np.float32)


def interpolate_antialiased(x, size=None, scale_factor=None, mode="nearest", align_corners=None, antialias=True):
    """F.interpolate with ``antialias`` given (a flag known only at run time, too),
    channels-last: torch's antialiased kernels when it is true, plain interpolate else."""
    if not antialias:
        return interpolate(x, size=size, scale_factor=scale_factor, mode=mode, align_corners=align_corners)
    if size is not None:
        return resize_antialiased(x, ntuple(size, 2), (None, None), mode, align_corners)
    scales = ntuple(scale_factor, 2)
    out_sizes = tuple(int(math.floor(s * f)) for s, f in zip(x.shape[1:3], scales))
    return resize_antialiased(x, out_sizes, scales, mode, align_corners)


def resize_antialiased(x, out_sizes, scales, mode, align_corners):
    """torch's antialiased bilinear / bicubic resize of a channels-last (N, H, W, C) batch."""
    if mode not in ("bilinear", "bicubic") or x.ndim != 4:
        raise NotImplementedError("antialias is only defined for bilinear and bicubic on 4-d inputs (as in torch)")
    for i in range(2):
        axis = 1 + i
        w = aa_resize_weights(x.shape[axis], out_sizes[i], mode, align_corners, scales[i])
        y = jnp.tensordot(jnp.asarray(w, x.dtype), x, axes=([1], [axis]), precision=jax.lax.Precision.HIGHEST)
        x = jnp.moveaxis(y, 0, axis)
    return x


def torch_assert(condition, message=None):
    """torch._assert: AssertionError when a concrete condition is false; a condition
    traced under jit is not checked."""
    if isinstance(condition, jax.core.Tracer):
        return
    if not bool(condition):
        raise AssertionError(message)


def torch_assert_async(condition, message=None):
    """torch._assert_async: RuntimeError when a concrete one-element condition is zero
    (more elements are ambiguous, as in torch); one traced under jit is not checked."""
    if isinstance(condition, jax.core.Tracer):
        return
    if not bool(condition):
        raise RuntimeError(message if message is not None else "Expected Tensor with single nonzero value, but got zero")
