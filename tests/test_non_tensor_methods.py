"""A method no tensor has (``x.keys()``, ``state_dict.pop(k)``) tells that its
receiver is no tensor, whatever the dataflow guessed for a parameter: the call
stays as written, with no "Tensor.keys is not supported" marker, and later
statements on the receiver (``state_dict[k] = w``) are not rewritten as
tensor updates. Seen in torchvision's FeaturePyramidNetwork (a dict of
feature maps) and in ``_load_from_state_dict`` hooks."""

from __future__ import annotations

import numpy as np
import torch

from harness import translate_files
from torch2nnx.verify import perturb

SOURCE = '''
from collections import OrderedDict
from typing import Dict

import torch
from torch import nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        names = list(x.keys())
        out = OrderedDict()
        for k, v in x.items():
            out[k] = self.conv(v).flatten(1)
        return [out[n] for n in names]

    def _load_from_state_dict(self, state_dict, prefix, *args):
        w = state_dict.pop(prefix + "old", None)
        if w is not None:
            state_dict[prefix + "conv.weight"] = w
        super()._load_from_state_dict(state_dict, prefix, *args)
'''


def test_dict_methods_are_not_tensor_methods(tmp_path):
    from flax import nnx
    import jax.numpy as jnp

    result, tmod, jmod, wmod = translate_files(SOURCE, tmp_path)
    assert "TODO(torch2nnx)" not in result.code, result.code
    assert "inplace_set" not in result.code and 'state_dict[prefix + "conv.weight"] = w' in result.code
    t_model = tmod.M().eval()
    perturb(t_model, 0)
    j_model = jmod.M(rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
    rng = np.random.default_rng(0)
    feats = {"a": rng.standard_normal((2, 3, 4, 4)).astype(np.float32),
             "b": rng.standard_normal((2, 3, 2, 2)).astype(np.float32)}
    with torch.no_grad():
        t_out = t_model({k: torch.from_numpy(v) for k, v in feats.items()})
    # the maps of a dict argument are taken in torch's order (the convolution transposes them)
    j_out = j_model({k: jnp.asarray(v) for k, v in feats.items()})
    for t, j in zip(t_out, j_out):
        np.testing.assert_allclose(t.numpy(), np.asarray(j), rtol=1e-4, atol=1e-4)
