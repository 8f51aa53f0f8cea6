"""Sequence models (issue 6): what the generated row tests do not show —
unsupported attention features are marked, tied weights are one parameter."""

from __future__ import annotations

import numpy as np
import pytest

from harness import translate_files

import torch2nnx

TIED = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class LM(nn.Module):
    def __init__(self, vocab=20, dim=8):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        h = self.proj(self.wte(idx))
        return self.lm_head(h) + F.linear(h, self.wte.weight)
"""


def test_tied_weights_are_one_parameter(tmp_path):
    import jax.numpy as jnp
    import torch
    from flax import nnx

    result, tmod, jmod, wmod = translate_files(TIED, tmp_path)
    assert "tie_weights(self, \"lm_head\", self, \"wte\")" in result.code, result.code
    t_model = tmod.LM()
    j_model = jmod.LM(rngs=nnx.Rngs(0))
    assert j_model.lm_head.weight is j_model.wte.embedding
    entries = {k: v for k, v, _, _ in wmod.torch_key_map(j_model)}
    assert entries["lm_head.weight"] is entries["wte.weight"]
    n_params = sum(v.size for v in jax_leaves(nnx.state(j_model, nnx.Param)))
    assert n_params == sum(p.numel() for p in t_model.parameters())  # torch counts the tied weight once
    wmod.load_torch_state_dict(j_model, t_model.state_dict())
    idx = np.array([[1, 2, 3], [4, 5, 6]])
    with torch.no_grad():
        expected = t_model(torch.from_numpy(idx)).numpy()
    np.testing.assert_allclose(np.asarray(j_model(jnp.asarray(idx))), expected, atol=1e-5)


def jax_leaves(state):
    import jax

    return jax.tree_util.tree_leaves(state)


@pytest.mark.parametrize("line, code", [
    ("nn.MultiheadAttention(8, 2, add_bias_kv=True)", "T2N005"),
    ("nn.MultiheadAttention(8, 2, add_zero_attn=True)", "T2N005"),
    ("nn.Transformer(8, 2, custom_encoder=nn.Identity())", "T2N005"),
    ("EinMix('b t c -> b t d', weight_shape='c d', c=8, d=8)", "T2N001"),
    ("Reduce('b n d -> b d', my_reduction)", "T2N002"),
])
def test_unsupported_attention_features_are_marked(line, code):
    source = ("import torch.nn as nn\nfrom einops.layers.torch import EinMix, Reduce\n\n\n"
              "class M(nn.Module):\n    def __init__(self, my_reduction=None):\n        super().__init__()\n"
              f"        self.layer = {line}\n\n    def forward(self, x):\n        return self.layer(x)\n")
    result = torch2nnx.translate(source, "m.py")
    assert f"TODO(torch2nnx): {code}" in result.code, result.code
    assert any(d.code == code for d in result.diagnostics)


def test_translated_gpt_trains_under_jit(tmp_path):
    """Train mode: dropout in attention (SDPA and nn.Dropout on the weights) draws
    from the module's rngs inside nnx.jit; the output is finite and differs from eval."""
    import jax.numpy as jnp
    from flax import nnx

    from fixture_cases import ROOT

    for case in ("seq_gpt", "seq_gpt_flash"):
        result, tmod, jmod, wmod = translate_files((ROOT / case / "model.py").read_text(), tmp_path / case)
        model = jmod.GPT(rngs=nnx.Rngs(0))
        # tied weights counted once, ModuleDict entries read as layers (wpe.weight -> wpe.embedding)
        assert model.get_num_params() == tmod.GPT().get_num_params()
        idx = jnp.asarray(np.arange(16).reshape(2, 8) % 50)
        model.train()
        train_out, _ = nnx.jit(lambda m, x: m(x))(model, idx)
        model.eval()
        eval_out, _ = nnx.jit(lambda m, x: m(x))(model, idx)
        assert np.isfinite(np.asarray(train_out)).all()
        assert not np.allclose(np.asarray(train_out), np.asarray(eval_out))
