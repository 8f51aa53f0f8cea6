"""grid_sample's and affine_grid's runtime helpers against torch: values and
gradients with respect to the image, the grid and theta, for every mode, padding
mode and align_corners (the row examples in test_rules.py check translations)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from torch2nnx.runtime.sampling import affine_grid, grid_sample

torch.set_num_threads(1)

CASES = list(itertools.product(("bilinear", "nearest"), ("zeros", "border", "reflection"), (False, True)))


def _data(shape_x, shape_g, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape_x).astype(np.float32)
    # coordinates past [-1, 1] reach the padding; none sit on a pixel edge, where
    # nearest rounding and the bilinear derivative are discontinuous
    g = (rng.uniform(-1.6, 1.6, shape_g)).astype(np.float32)
    return x, g


@pytest.mark.parametrize("mode,padding,align", CASES)
@pytest.mark.parametrize("rank", [4, 5])
def test_grid_sample_values_and_gradients(mode, padding, align, rank):
    shape_x, shape_g = ((2, 3, 5, 7), (2, 4, 6, 2)) if rank == 4 else ((2, 3, 4, 5, 6), (2, 3, 2, 4, 3))
    x, g = _data(shape_x, shape_g)
    tx, tg = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
    t_out = F.grid_sample(tx, tg, mode=mode, padding_mode=padding, align_corners=align)
    w = np.random.default_rng(1).standard_normal(t_out.shape).astype(np.float32)
    (t_out * torch.tensor(w)).sum().backward()

    xl = np.moveaxis(x, 1, -1)  # the helper takes channels-last images
    wl = jnp.asarray(np.moveaxis(w, 1, -1))

    def loss(xl, g):
        return (grid_sample(xl, g, mode=mode, padding_mode=padding, align_corners=align) * wl).sum()

    j_out = jax.jit(lambda a, b: grid_sample(a, b, mode=mode, padding_mode=padding, align_corners=align))(xl, g)
    np.testing.assert_allclose(np.moveaxis(np.asarray(j_out), -1, 1), t_out.detach().numpy(), rtol=1e-4, atol=1e-4)
    gx, gg = jax.grad(loss, argnums=(0, 1))(jnp.asarray(xl), jnp.asarray(g))
    np.testing.assert_allclose(np.moveaxis(np.asarray(gx), -1, 1), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(gg), tg.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 5, 7), (2, 1, 3, 4, 5), (2, 3, 1, 6)])
def test_affine_grid_values_and_gradients(align, size):
    n = len(size) - 2
    theta = np.random.default_rng(2).standard_normal((size[0], n, n + 1)).astype(np.float32)
    tt = torch.tensor(theta, requires_grad=True)
    t_out = F.affine_grid(tt, list(size), align_corners=align)
    t_out.square().sum().backward()
    j_out = affine_grid(jnp.asarray(theta), size, align_corners=align)
    np.testing.assert_allclose(np.asarray(j_out), t_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = jax.grad(lambda th: affine_grid(th, size, align_corners=align).__pow__(2).sum())(jnp.asarray(theta))
    np.testing.assert_allclose(np.asarray(g), tt.grad.numpy(), rtol=1e-4, atol=1e-4)
