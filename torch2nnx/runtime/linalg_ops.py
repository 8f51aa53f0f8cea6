"""torch.linalg functions whose jnp.linalg counterparts differ in batching or
tolerances: torch's semantics spelled over jnp.linalg."""

import jax
import jax.numpy as jnp


def linalg_solve(a, b, left=True):
    """torch.linalg.solve: ``b`` is a batch of vectors when it is 1-D or has one dim
    less than ``a`` (jnp.linalg.solve takes only a 1-D ``b`` as a vector)."""
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return jnp.swapaxes(linalg_solve(jnp.swapaxes(a, -1, -2), jnp.swapaxes(b, -1, -2)), -1, -2)
    if b.ndim == 1 or b.ndim == a.ndim - 1:
        return jnp.linalg.solve(a, b[..., None])[..., 0]
    return jnp.linalg.solve(a, b)


def linalg_pinv(a, atol=None, rtol=None, hermitian=False):
    """torch.linalg.pinv: singular values below max(atol, rtol * largest) are dropped;
    rtol defaults to max(m, n) * eps when neither is given, to 0 when only atol is
    (jnp.linalg.pinv has no atol and another default rtol)."""
    m, n = a.shape[-2:]
    if rtol is None:
        rtol = 0.0 if atol is not None else max(m, n) * jnp.finfo(a.dtype).eps
    atol = 0.0 if atol is None else atol
    u, s, vh = jnp.linalg.svd(a, full_matrices=False)
    cutoff = jnp.maximum(jnp.asarray(atol)[..., None], jnp.asarray(rtol)[..., None] * s[..., :1])
    s_inv = jnp.where(s > cutoff, 1.0 / jnp.where(s > cutoff, s, 1.0), 0.0)
    return jnp.swapaxes(vh, -1, -2).conj() * s_inv[..., None, :] @ jnp.swapaxes(u, -1, -2).conj()


class LstsqResult(tuple):
    """torch.linalg.lstsq's result: a tuple with its fields' names."""

    solution = property(lambda self: self[0])
    residuals = property(lambda self: self[1])
    rank = property(lambda self: self[2])
    singular_values = property(lambda self: self[3])


def linalg_lstsq(a, b, rcond=None):
    """torch.linalg.lstsq with CPU's default driver, gelsy: (solution, residuals,
    rank, singular_values) over batches of (m, n) ``a`` and (m, k) ``b``; gelsy
    computes no residuals and no singular values (both empty), as in torch."""
    batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = jnp.broadcast_to(a, batch + a.shape[-2:])
    b = jnp.broadcast_to(b, batch + b.shape[-2:])
    m, n = a.shape[-2:]
    flat_a, flat_b = a.reshape((-1, m, n)), b.reshape((-1,) + b.shape[-2:])
    x, _, rank, _ = jax.vmap(lambda p, q: jnp.linalg.lstsq(p, q, rcond=rcond))(flat_a, flat_b)
    empty = jnp.zeros((0,), a.dtype)
    return LstsqResult((x.reshape(batch + x.shape[-2:]), empty, rank.reshape(batch), empty))
