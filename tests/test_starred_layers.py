"""Stateless torch layers built with ``**kwargs`` (timm's ``create_pool2d``:
``nn.AvgPool2d(kernel_size, stride=stride, padding=padding, **kwargs)``): the
row's generated class (``TorchAvgPool2d``) binds the arguments at run time.
Before, the call stayed torch's under a TODO and the model failed on jax arrays
(coatnet: ``avg_pool2d(): argument 'input' must be Tensor``)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import run_parity, translate_files

SOURCE = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent("""
    def create_pool(kind, kernel_size, stride=None, **kwargs):
        stride = stride or kernel_size
        padding = kwargs.pop("padding", 0)
        if kind == "avg":
            return nn.AvgPool2d(kernel_size, stride=stride, padding=padding, **kwargs)
        return nn.MaxPool2d(kernel_size, stride=stride, padding=padding, **kwargs)


    class Net(nn.Module):
        def __init__(self, **pool_kwargs):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.pool = create_pool("avg", 3, 2, padding=1, **pool_kwargs)
            self.pool2 = create_pool("max", 2, ceil_mode=True)

        def forward(self, x):
            return self.pool2(self.pool(self.conv(x))).flatten(1)
""")


def test_stateless_layer_with_kwargs_binds_at_run_time(tmp_path):
    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert result.todo_count == 0, result.code
    assert "TorchAvgPool2d(kernel_size, stride=stride, padding=padding, **kwargs)" in result.code
    x = np.random.default_rng(0).standard_normal((2, 3, 11, 11)).astype(np.float32)
    # count_include_pad=False reaches the pool only through **kwargs: it changes the border averages
    run_parity(result, tmod, jmod, wmod, "Net", [x], kwargs={"count_include_pad": False}, jit=True)
    run_parity(result, tmod, jmod, wmod, "Net", [x], kwargs={"ceil_mode": True}, jit=True)
    from flax import nnx

    with pytest.raises(NotImplementedError):  # what the row takes only as a constant is refused, not ignored
        jmod.create_pool("max", 2, return_indices=True)
    jmod.Net(rngs=nnx.Rngs(0))


INIT = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, dim=64, a_init_range=(1, 16), init_kw=None):
            super().__init__()
            self.a_init_range = a_init_range
            self.A = nn.Parameter(torch.empty(dim))
            nn.init.uniform_(self.A, *self.a_init_range)
            self.fc = nn.Linear(dim, dim)
            nn.init.trunc_normal_(self.fc.weight, **(init_kw or {"std": 0.02}))

        def forward(self, x):
            return self.fc(x) * self.A
""")


def test_init_function_with_splatted_arguments(tmp_path):
    """``nn.init.uniform_(self.A, *self.a_init_range)`` (timm's EfficientViM) and
    ``trunc_normal_(w, **kw)``: a lambda of the row's signature binds them at run time.
    Before, torch's init stayed and failed on the Variable (no attribute 'uniform_')."""
    from flax import nnx

    result, tmod, jmod, wmod = translate_files(INIT, tmp_path)
    assert result.todo_count == 0, result.code
    m = jmod.Net(rngs=nnx.Rngs(0))
    a = np.asarray(m.A[...])
    assert a.min() >= 1.0 and a.max() <= 16.0 and a.std() > 2.0, a  # uniform on [1, 16), as torch draws
    w = np.asarray(m.fc.kernel[...])
    assert 0.01 < w.std() < 0.03 and np.abs(w).max() <= 2.0, w.std()  # trunc_normal(std=0.02)
    m = jmod.Net(a_init_range=(-3, -2), init_kw={"std": 0.5}, rngs=nnx.Rngs(0))
    assert np.asarray(m.A[...]).max() <= -2.0 and 0.3 < np.asarray(m.fc.kernel[...]).std() < 0.6
    x = np.random.default_rng(0).standard_normal((2, 64)).astype(np.float32)
    run_parity(result, tmod, jmod, wmod, "Net", [x], jit=True)
