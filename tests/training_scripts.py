"""Step-by-step training parity for whole scripts (issue 16): the torch model
and its translation start from the same perturbed weights (ported through the
generated weights module); after training, every parameter and buffer the
weights module maps matches torch's, through the same transforms."""

from __future__ import annotations

import numpy as np
import torch

from harness import perturb


def model_pair(tmod, jmod, wmod, cls, *args, seed=0, **kwargs):
    from flax import nnx

    torch.manual_seed(seed)
    t_model = getattr(tmod, cls)(*args, **kwargs)
    perturb(t_model, seed)
    j_model = getattr(jmod, cls)(*args, **kwargs, rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
    return t_model, j_model


def state_matches(wmod, j_model, t_model, rtol, atol=None, skip=()):
    """Every state_dict entry the weights module maps, torch's value through its
    transform against the NNX variable; returns the keys compared."""
    sd = t_model.state_dict()
    seen = []
    for key, var, transform, _ in wmod.torch_key_map(j_model):
        if key not in sd or any(s in key for s in skip):
            continue
        want = np.asarray(transform(sd[key].detach().numpy()) if transform else sd[key].numpy())
        np.testing.assert_allclose(np.asarray(var.get_value()), want, rtol=rtol,
                                   atol=rtol if atol is None else atol, err_msg=key)
        seen.append(key)
    assert seen
    return seen
