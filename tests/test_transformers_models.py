"""Hugging Face transformers' modeling files (issue 14), translated unmodified
from the installed package (read at test time, never copied here) with the
library's infrastructure provided by rules (rules/transformers_rules.py,
runtime/hf/): tiny configurations, perturbed weights ported by the generated
weights module from torch's own state_dict keys, outputs and gradients at
parity (rtol = atol = 1e-4), eagerly and under nnx.jit, for the eager and the
sdpa attention paths.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402

from harness import assert_close, load_module  # noqa: E402

import torch2nnx  # noqa: E402
from torch2nnx.verify import perturb  # noqa: E402

torch.set_num_threads(1)

MODELS = Path(transformers.__file__).parent / "models"


def translations(tmp_path_factory):
    """A module's translations of transformers modeling files, each made once:
    ``get(name)`` -> what ``translate_model`` returns."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = translate_model(name, tmp_path_factory.mktemp(name))
        return cache[name]
    return get


def translate_model(name: str, tmp: Path):
    """modeling_<name>.py translated into ``tmp``: (result, torch module, NNX module, weights module)."""
    src = MODELS / name / f"modeling_{name}.py"
    package = f"transformers.models.{name}"
    result = torch2nnx.translate(src.read_text(), str(src), module_name=f"modeling_{name}_nnx", package=package)
    out = tmp / f"modeling_{name}_nnx.py"
    out.write_text(result.code)
    wout = tmp / f"modeling_{name}_nnx_weights.py"
    wout.write_text(result.weights_code)
    return result, importlib.import_module(f"{package}.modeling_{name}"), load_module(out), load_module(wout)


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    return translate_model("vit", tmp_path_factory.mktemp("vit"))


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return translate_model("bert", tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def roberta(tmp_path_factory):
    return translate_model("roberta", tmp_path_factory.mktemp("roberta"))


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    return translate_model("gpt2", tmp_path_factory.mktemp("gpt2"))


def vit_config():
    from transformers import ViTConfig

    return ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                     image_size=32, patch_size=8, num_labels=3)


def bert_config():
    from transformers import BertConfig

    return BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=37, max_position_embeddings=64, num_labels=3)


def check_clean(result):
    """No TODO, no torch import, and of transformers only configuration classes and logging."""
    assert result.todo_count == 0, [d.format() for d in result.diagnostics]
    assert "TODO(torch2nnx)" not in result.code
    imports = [ln for ln in result.code.splitlines() if re.match(r"(from|import) (torch|transformers)\b", ln)]
    assert all(("configuration_" in ln or ln == "from transformers.utils import logging") for ln in imports), imports


def models(mods, cls, config, impl):
    from flax import nnx

    _, tmod, jmod, wmod = mods
    config._attn_implementation = impl
    torch.manual_seed(0)
    t_model = getattr(tmod, cls)(config).eval()
    perturb(t_model, 0)
    j_model = getattr(jmod, cls)(config, rngs=nnx.Rngs(0))
    wmod.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)
    j_model.eval()
    return t_model, j_model


def check_parity(mods, cls, config, impl, t_in, j_in, keys, grads=True):
    """Outputs (``keys`` of the ModelOutput) eagerly and under nnx.jit, and the
    gradients of a loss on the first of them w.r.t. every parameter."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    t_model, j_model = models(mods, cls, config, impl)
    t_out = t_model(**t_in)
    j_out = j_model(**j_in)
    arrays = {k: v for k, v in j_in.items() if hasattr(v, "shape")}
    static = {k: v for k, v in j_in.items() if k not in arrays}  # use_cache=False: a Python flag
    jitted = nnx.jit(lambda m, kw: m(**kw, **static))(j_model, arrays)
    for k in keys:
        assert_close(t_out[k].detach().numpy(), np.asarray(j_out[k]), what=f"{cls} {impl} {k}")
        assert_close(t_out[k].detach().numpy(), np.asarray(jitted[k]), what=f"{cls} {impl} {k} (jit)")
    # the output is a pytree with torch's access: attribute, key, index over the fields set
    assert j_out[0] is j_out[keys[0]] is getattr(j_out, keys[0])
    assert list(j_out.keys()) == list(t_out.keys())
    if not grads:
        return

    weights = np.random.default_rng(5).standard_normal(t_out[keys[0]].shape).astype(np.float32)
    (t_out[keys[0]] * torch.from_numpy(weights)).sum().backward()
    grads = nnx.grad(lambda m: jnp.sum(m(**j_in)[keys[0]] * weights), argnums=nnx.DiffState(0, nnx.Param))(j_model)
    # torch's gradients ported like weights: each lands where its parameter does
    # (a parameter the loss does not reach, ViTModel's pooler under last_hidden_state, has
    # no torch gradient: zeros, as nnx.grad gives)
    t_grads = {k: p.grad if p.grad is not None else torch.zeros_like(p) for k, p in t_model.named_parameters()}
    assert sum(p.grad is not None for p in t_model.parameters()) > len(t_grads) / 2
    _, ported = models(mods, cls, config, impl)
    mods[3].load_torch_state_dict(ported, {**t_model.state_dict(), **t_grads}, strict=True)
    expected = dict(jax.tree_util.tree_leaves_with_path(nnx.to_pure_dict(nnx.state(ported, nnx.Param))))
    got = dict(jax.tree_util.tree_leaves_with_path(nnx.to_pure_dict(grads)))
    # torch's Embedding(padding_idx) gives its padding row no gradient; nnx.Embed does (a
    # known gap of the Embedding row, README): that row is left out, every other compared
    masks = {k: torch.ones_like(p) for k, p in t_model.named_parameters()}
    # (a tied embedding's padding row has the head's gradient: compared, on inputs without that token)
    every = [p for _, p in t_model.named_parameters(remove_duplicate=False)]
    tied = {id(p) for p in every if sum(q is p for q in every) > 1}
    for name, m in t_model.named_modules():
        if isinstance(m, torch.nn.Embedding) and m.padding_idx is not None and id(m.weight) not in tied:
            masks[f"{name}.weight"][m.padding_idx] = 0
    _, masked = models(mods, cls, config, impl)
    mods[3].load_torch_state_dict(masked, {**t_model.state_dict(), **masks}, strict=True)
    keep = dict(jax.tree_util.tree_leaves_with_path(nnx.to_pure_dict(nnx.state(masked, nnx.Param))))
    got = {p: g * keep[p] for p, g in got.items()}
    assert len(expected) == len(got) == len(t_grads)
    for path, g in got.items():
        assert_close(np.asarray(expected[path]), np.asarray(g), what=f"{cls} {impl} grad {jax.tree_util.keystr(path)}")


def test_vit_translates_clean_and_channels_last(vit):
    result = vit[0]
    check_clean(result)
    # the conv patch embedding makes the model channels-last: it takes NHWC, and says so
    assert "Takes pixel_values as (N, H, W, C) where torch takes (N, C, H, W)." in result.code
    takes = result.layout_of("ViTModel").takes["pixel_values"]
    assert takes.perm == (0, 2, 3, 1)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("cls, keys", [("ViTModel", ("last_hidden_state", "pooler_output")),
                                       ("ViTForImageClassification", ("logits",))])
def test_vit_parity(vit, cls, keys, impl):
    import jax.numpy as jnp

    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    check_parity(vit, cls, vit_config(), impl, dict(pixel_values=torch.from_numpy(x)),
                 dict(pixel_values=jnp.asarray(x.transpose(0, 2, 3, 1))), keys)


def bert_inputs():
    import jax.numpy as jnp

    ids = np.random.default_rng(0).integers(0, 99, (2, 7))
    mask = np.ones((2, 7), np.int64)
    mask[1, 4:] = 0  # the second sequence is padded
    types = np.zeros((2, 7), np.int64)
    types[:, 3:] = 1
    t_in = dict(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.from_numpy(types))
    return t_in, {k: jnp.asarray(v.numpy()) for k, v in t_in.items()}


def test_bert_translates_clean(bert):
    check_clean(bert[0])


def test_bert_padding_mask_matters(bert):
    # the parity below would not notice a dropped mask if it changed nothing
    t_model, j_model = models(bert, "BertModel", bert_config(), "sdpa")
    t_in, j_in = bert_inputs()
    with torch.no_grad():
        masked = t_model(**t_in).last_hidden_state.numpy()
        unmasked = t_model(**{**t_in, "attention_mask": None}).last_hidden_state.numpy()
    assert np.abs(masked[1] - unmasked[1]).max() > 1e-2
    assert np.abs(np.asarray(j_model(**{**j_in, "attention_mask": None}).last_hidden_state) - unmasked).max() < 1e-4


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("cls, keys", [("BertModel", ("last_hidden_state", "pooler_output")),
                                       ("BertForSequenceClassification", ("logits",))])
def test_bert_parity(bert, cls, keys, impl):
    t_in, j_in = bert_inputs()
    check_parity(bert, cls, bert_config(), impl, t_in, j_in, keys)


def test_roberta_translates_clean(roberta):
    check_clean(roberta[0])


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("cls, keys", [("RobertaModel", ("last_hidden_state", "pooler_output")),
                                       ("RobertaForSequenceClassification", ("logits",))])
def test_roberta_parity(roberta, cls, keys, impl):
    """Position ids counted from the padding token (pad_token_id=1), a padded second sequence."""
    import jax.numpy as jnp
    from transformers import RobertaConfig

    config = RobertaConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=37, max_position_embeddings=64, num_labels=3, pad_token_id=1)
    ids = np.random.default_rng(0).integers(2, 99, (2, 7))
    ids[1, 5:] = 1
    mask = (ids != 1).astype(np.int64)
    t_in = dict(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    check_parity(roberta, cls, config, impl, t_in, {k: jnp.asarray(v.numpy()) for k, v in t_in.items()}, keys)


def gpt2_config():
    from transformers import GPT2Config

    return GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0,
                      eos_token_id=0)


def test_gpt2_translates_clean(gpt2):
    check_clean(gpt2[0])


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("cls, keys", [("GPT2Model", ("last_hidden_state",)), ("GPT2LMHeadModel", ("logits",))])
def test_gpt2_parity(gpt2, cls, keys, impl):
    """The causal mask and a padding mask; no KV cache (use_cache=False). GPT2LMHeadModel ties
    lm_head to the token embedding, one parameter in the translation too (test_transformers_tied.py)."""
    t_in, j_in = bert_inputs()
    t_in = {"input_ids": t_in["input_ids"], "attention_mask": t_in["attention_mask"], "use_cache": False}
    j_in = {"input_ids": j_in["input_ids"], "attention_mask": j_in["attention_mask"], "use_cache": False}
    check_parity(gpt2, cls, gpt2_config(), impl, t_in, j_in, keys)


def test_outputs_runtime_matches_transformers():
    """runtime/hf/outputs.py holds transformers' modeling_outputs classes, fields in order
    (regenerated by tests/regen_hf_outputs.py)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    import regen_hf_outputs

    from torch2nnx.runtime.hf import outputs

    expected = regen_hf_outputs.output_classes()
    assert expected and all(getattr(outputs, name)._fields_ == fields for name, fields in expected)
    out = outputs.BaseModelOutput(last_hidden_state=1, attentions=3)
    assert (out[0], out[1], out["attentions"], out.hidden_states, out.to_tuple()) == (1, 3, 3, None, (1, 3))


def test_init_weights_draws_torchs_distributions(vit):
    """A translation built from scratch: init_weights(rngs) runs the file's _init_weights
    (and the base's default) over every module, as torch's post_init does."""
    from flax import nnx

    config = vit_config()
    config.initializer_range = 0.5  # far from NNX's own defaults
    torch.manual_seed(0)
    t_model = vit[1].ViTForImageClassification(config)
    j_model = vit[2].ViTForImageClassification(config, rngs=nnx.Rngs(0))
    j_model.init_weights(nnx.Rngs(1))
    values = {k: np.asarray(v.get_value()) for k, v, _, _ in vit[3].torch_key_map(j_model)}
    for key, t in t_model.state_dict().items():
        t, j = t.numpy(), values[key]
        # within sampling noise of the same distribution (4 standard errors)
        n, sigma = t.size, max(t.std(), j.std())
        assert abs(t.std() - j.std()) <= 4 * sigma / np.sqrt(2 * n) + 1e-6, (key, t.std(), j.std())
        assert abs(t.mean() - j.mean()) <= 4 * sigma / np.sqrt(n) + 1e-6, (key, t.mean(), j.mean())
    # drawn at initializer_range, not left at NNX's defaults
    kernels = [k for k in values if k.endswith("q_proj.weight")]
    assert kernels and all(0.4 < values[k].std() < 0.6 for k in kernels)


def test_save_pretrained_checkpoint_loads(bert, tmp_path):
    """A checkpoint written by transformers' save_pretrained (safetensors, transformers' key
    names) fills the translation through the weights module, tensor by tensor."""
    from flax import nnx

    t_model, _ = models(bert, "BertForSequenceClassification", bert_config(), "sdpa")
    t_model.save_pretrained(tmp_path / "ckpt")
    j_model = bert[2].BertForSequenceClassification(bert_config(), rngs=nnx.Rngs(3))
    bert[3].load_torch_checkpoint(j_model, tmp_path / "ckpt" / "model.safetensors", strict=True)
    j_model.eval()
    t_in, j_in = bert_inputs()
    with torch.no_grad():
        expected = t_model(**t_in).logits.numpy()
    assert_close(expected, np.asarray(j_model(**j_in).logits))


def test_training_read_off_a_module_handed_to_a_function(tmp_path):
    """``module.training`` in a function given the module (transformers' eager_attention_forward):
    the module's mode flag, switched by eval()/train(); another object's own attribute."""
    from harness import run_parity, translate_files

    source = """import torch
import torch.nn as nn
import torch.nn.functional as F


def attend(module, x, p, config):
    return F.dropout(x, p=p, training=module.training and config.training)


class Config:
    training = True


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.p = 0.5

    def forward(self, x):
        y = attend(self, self.fc(x), 0.0 if not self.training else self.p, Config())
        return y * 2.0 if self.training else y
"""
    result, tmod, jmod, wmod = translate_files(source, tmp_path)
    assert result.todo_count == 0 and "module_training(module)" in result.code, result.code
    run_parity(result, tmod, jmod, wmod, "M", [np.ones((2, 4), np.float32)])
    from flax import nnx

    model = jmod.M(rngs=nnx.Rngs(0))
    model.train()
    out = np.asarray(model(np.ones((2, 4), np.float32)))
    assert (out == 0).any()  # dropout active in training, through the flag read in attend
