"""Checkpoints (issue 15): ``torch2nnx convert`` and the weights module's
``load_checkpoint`` / ``load_torch_checkpoint``.

A torchvision ResNet-18 with perturbed weights, saved in the four checkpoint
kinds, converted to both formats, loaded back into abstract and real models
and run under ``nnx.jit`` at parity with torch; a small model with tied
weights and buffers through the command line; a malicious pickle; the
strict report; safe writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from harness import ATOL, RTOL, perturb, translate_files

from torch2nnx.cli import main
from torch2nnx.checkpoints import (CheckpointError, MismatchError, OutputExistsError, UnsafeCheckpointError,
                                   convert_checkpoint)
from torch2nnx.checkpoints.convert import strip_prefixes

KINDS = ["state_dict.pt", "wrapped.pt", "model.safetensors", "model.safetensors.index.json"]


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)


def save_all_kinds(state_dict: dict, where: Path) -> dict[str, Path]:
    """The four checkpoint kinds of ``state_dict``: a state_dict .pt, one wrapped
    the way training scripts save it (under "state_dict", DataParallel's
    "module." on every key, beside an epoch and optimizer), a .safetensors file
    and a sharded index as transformers writes them."""
    from safetensors.torch import save_file

    where.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().clone().contiguous() for k, v in state_dict.items()}
    torch.save(sd, where / KINDS[0])
    torch.save({"epoch": 7, "optimizer": {"lr": 0.1}, "state_dict": {"module." + k: v for k, v in sd.items()}},
               where / KINDS[1])
    save_file(sd, str(where / KINDS[2]))
    keys = list(sd)
    shards = [keys[: len(keys) // 3], keys[len(keys) // 3: 2 * len(keys) // 3], keys[2 * len(keys) // 3:]]
    weight_map = {}
    for i, part in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: sd[k] for k in part}, str(where / name))
        weight_map.update({k: name for k in part})
    (where / KINDS[3]).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return {k: where / k for k in KINDS}


def state_of(model) -> dict:
    from torch2nnx.checkpoints.convert import is_rng, variables

    return {p: np.asarray(v.get_value()) for p, v in variables(model) if not is_rng(v)}


# --- ResNet-18 ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    """torchvision's resnet18, perturbed, its translation (made once), the four
    checkpoints, an input and torch's output on it."""
    import torchvision
    import torchvision.models.resnet as resnet_file

    from torch2nnx.checkpoints.target import translated_model

    torch.manual_seed(0)
    t_model = torchvision.models.resnet18()
    perturb(t_model, seed=1)
    t_model.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = t_model(torch.from_numpy(x)).numpy()
    ckpts = save_all_kinds(t_model.state_dict(), tmp_path_factory.mktemp("torch"))
    with translated_model(Path(resnet_file.__file__), "resnet18") as (build, wmod, _):
        yield {"build": build, "wmod": wmod, "ckpts": ckpts, "x": x.transpose(0, 2, 3, 1),  # channels-last
               "expected": expected, "state_dict": t_model.state_dict(), "out": tmp_path_factory.mktemp("nnx"), "done": {}}


@pytest.fixture(scope="module")
def reference(resnet):
    """The NNX state the existing in-memory path gives (load_torch_state_dict)."""
    from flax import nnx

    model = nnx.eval_shape(resnet["build"])
    from torch2nnx.checkpoints.convert import variables

    for _, v in variables(model):  # concrete zeros: load_torch_state_dict fills a real model
        s = v.get_value()
        v.set_value(np.zeros(s.shape, s.dtype) if not str(s.dtype).startswith("key") else s)
    resnet["wmod"].load_torch_state_dict(model, resnet["state_dict"])
    return state_of(model)


def converted(resnet, kind, fmt):
    """The conversion of one kind to one format, made once (the tests share them)."""
    if (kind, fmt) not in resnet["done"]:
        out = resnet["out"] / f"{kind}.{fmt}"
        convert_checkpoint(resnet["build"], resnet["wmod"], resnet["ckpts"][kind], out, fmt=fmt)
        resnet["done"][kind, fmt] = out
    return resnet["done"][kind, fmt]


def forward(model, x):
    import jax.numpy as jnp
    from flax import nnx

    model.eval()
    return np.asarray(_jitted(nnx)(model, jnp.asarray(x)))


_JIT = {}


def _jitted(nnx):
    if "f" not in _JIT:  # one jitted function: models of one structure share its cache
        _JIT["f"] = nnx.jit(lambda m, x: m(x))
    return _JIT["f"]


@pytest.mark.parametrize("fmt", ["orbax", "safetensors"])
def test_resnet18_every_kind_converts_and_loads_into_an_abstract_model(resnet, reference, fmt):
    from flax import nnx

    for kind, ckpt in resnet["ckpts"].items():
        out = resnet["out"] / f"{kind}.{fmt}"
        done = convert_checkpoint(resnet["build"], resnet["wmod"], ckpt, out, fmt=fmt)
        resnet["done"][kind, fmt] = out
        assert done.tensors == len(reference) and done.constructed == 0, (kind, done)
        assert done.plan.stripped == ("module." if kind == "wrapped.pt" else ""), kind
        model = resnet["wmod"].load_checkpoint(nnx.eval_shape(resnet["build"]), out)
        got = state_of(model)
        assert sorted(got) == sorted(reference), kind
        for path, value in reference.items():
            np.testing.assert_array_equal(got[path], value, err_msg=f"{kind} -> {fmt}: {path}")
    # numbers: the last abstract model, jitted, at parity with torch
    y = forward(model, resnet["x"])
    np.testing.assert_allclose(y, resnet["expected"], rtol=RTOL, atol=ATOL)


def test_resnet18_loads_into_a_real_model_at_parity(resnet, reference):
    import jax
    from flax import nnx

    model = nnx.jit(resnet["build"])()  # a real model, initialised in one compiled call (eagerly: a minute)
    for fmt in ("orbax", "safetensors"):
        out = converted(resnet, "wrapped.pt", fmt)
        # zero every weight first: a load that did nothing cannot pass
        nnx.update(model, jax.tree.map(lambda a: a * 0, nnx.state(model, nnx.Param)))
        assert resnet["wmod"].load_checkpoint(model, out) is model
        y = forward(model, resnet["x"])
        np.testing.assert_allclose(y, resnet["expected"], rtol=RTOL, atol=ATOL, err_msg=fmt)


def test_resnet18_load_torch_checkpoint_streams_every_kind(resnet, reference):
    from flax import nnx

    for kind, ckpt in resnet["ckpts"].items():
        model = resnet["wmod"].load_torch_checkpoint(nnx.eval_shape(resnet["build"]), ckpt)
        got = state_of(model)
        for path, value in reference.items():
            np.testing.assert_array_equal(got[path], value, err_msg=f"{kind}: {path}")
    np.testing.assert_allclose(forward(model, resnet["x"]), resnet["expected"], rtol=RTOL, atol=ATOL)


def test_resnet18_bfloat16_and_the_safetensors_layout(resnet, reference):
    import ml_dtypes
    from flax import nnx
    from safetensors import safe_open

    out = resnet["out"] / "bf16.safetensors"
    convert_checkpoint(resnet["build"], resnet["wmod"], resnet["ckpts"]["model.safetensors"], out,
                       fmt="safetensors", dtype="bfloat16")
    header = json.loads(out.read_bytes()[8: 8 + int.from_bytes(out.read_bytes()[:8], "little")])
    assert header["__metadata__"]["format"] == "torch2nnx"
    # nnx.Sequential keeps its entries in .layers: torch's layer1.0 is NNX's layer1.layers.0
    assert header["layer1.layers.0.conv1.kernel"]["dtype"] == "BF16"
    assert header["layer1.layers.0.conv1.kernel"]["shape"] == [3, 3, 64, 64]  # (2, 3, 1, 0) of torch's (64, 64, 3, 3)
    model = resnet["wmod"].load_checkpoint(nnx.eval_shape(resnet["build"]), out)
    got = state_of(model)
    np.testing.assert_array_equal(got["fc.kernel"], reference["fc.kernel"].astype(ml_dtypes.bfloat16))
    assert got["fc.kernel"].dtype == ml_dtypes.bfloat16
    # float32 files read with the safetensors library itself, keyed by NNX paths
    f32 = converted(resnet, "model.safetensors", "safetensors")
    with safe_open(str(f32), framework="numpy") as fh:
        assert sorted(fh.keys()) == sorted(reference)
        np.testing.assert_array_equal(fh.get_tensor("bn1.mean"), reference["bn1.mean"])


def test_resnet18_orbax_output_is_a_plain_uncompressed_orbax_checkpoint(resnet, reference):
    """What keeps the Orbax write near one copy of the checkpoint
    (benchmarks/convert_memory.py): arrays stored without compression (a
    compressed copy of each would be held until the write ends), read back
    by Orbax's own StandardCheckpointer as usual."""
    import orbax.checkpoint as ocp
    import tensorstore as ts

    out = converted(resnet, "model.safetensors", "orbax")
    kv = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{out.absolute()}/"}).result()
    arrays = [k for k in kv.list().result() if k.endswith((b"/.zarray", b"/zarr.json"))]  # zarr 2 or 3
    assert len(arrays) == len(reference)
    for key in arrays:
        assert "zstd" not in kv.read(key).result().value.decode(), key
    checkpointer = ocp.StandardCheckpointer()
    try:
        tree = checkpointer.restore(out.absolute())
    finally:
        checkpointer.close()
    np.testing.assert_array_equal(np.asarray(tree["layer1"]["layers"]["0"]["conv1"]["kernel"]),
                                  reference["layer1.layers.0.conv1.kernel"])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_converted_tensors_are_aligned_for_jax_to_take_without_a_copy(tmp_path, dtype):
    """A converted array handed to jax.device_put becomes the jax array's
    buffer (jax's CPU backend copies data not 64-byte aligned, as numpy's
    large arrays are): the Orbax write holds the checkpoint once, not twice."""
    import jax
    from safetensors.torch import save_file

    from torch2nnx.checkpoints.convert import Item, converted as convert_one
    from torch2nnx.checkpoints.read import open_checkpoint

    save_file({"w": torch.randn(384, 512)}, str(tmp_path / "w.safetensors"))
    source = open_checkpoint(tmp_path / "w.safetensors")
    try:
        item = Item("w", (512, 384), np.dtype(jax.numpy.dtype(dtype)), "w", lambda a: a.T)
        value = convert_one(item, source)
        expected = source.read("w").T.astype(item.dtype)
    finally:
        source.close()
    assert value.flags.c_contiguous and value.dtype == item.dtype
    np.testing.assert_array_equal(value, expected)
    assert jax.device_put(value).unsafe_buffer_pointer() == value.ctypes.data



@pytest.mark.parametrize("kind", ["w.safetensors", "w.pt"])
def test_a_tensor_is_copied_slab_by_slab_giving_back_its_source_pages(tmp_path, monkeypatch, kind):
    """Identity, reshape and transpose (a conv kernel's) transforms are walked
    in the source's order, each slab's mapped pages released once copied, so
    the largest tensor does not cost twice; the values are those of one copy."""
    import ml_dtypes
    from safetensors.torch import save_file

    from torch2nnx.checkpoints import convert as conv
    from torch2nnx.checkpoints.read import open_checkpoint

    w = torch.randn(16, 8, 3, 3)
    if kind.endswith(".safetensors"):
        save_file({"w": w}, str(tmp_path / kind))
    else:
        torch.save({"w": w}, tmp_path / kind)
    monkeypatch.setattr(conv, "SLAB", 5 * 8 * 3 * 3 * 4)  # five rows of w: four slabs, the last short
    source = open_checkpoint(tmp_path / kind)
    released = []
    real_release = source.release
    monkeypatch.setattr(source, "release", lambda key, lo=0, hi=None: (released.append((lo, hi)),
                                                                        real_release(key, lo, hi)))
    try:
        for transform, dtype in [(None, np.float32), (lambda a: a.reshape(16, 72), np.float32),
                                 (lambda a: a.transpose(2, 3, 1, 0), ml_dtypes.bfloat16)]:
            released.clear()
            value = w.numpy() if transform is None else transform(w.numpy())
            item = conv.Item("w", value.shape, np.dtype(dtype), "w", transform)
            np.testing.assert_array_equal(conv.converted(item, source), value.astype(dtype))
            row = 8 * 3 * 3 * 4
            assert released == [(0, 5 * row), (5 * row, 10 * row), (10 * row, 15 * row), (15 * row, 16 * row),
                                (0, None)], transform
    finally:
        source.close()

# --- a small model with tied weights and buffers, through the command line ---------------

TIED = """
import torch
import torch.nn as nn


class Tied(nn.Module):
    def __init__(self, vocab=20, dim=8, steps=16):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        self.drop = nn.Dropout(0.1)  # RNG state: not a weight, not in the checkpoint
        self.register_buffer("scale", torch.ones(dim))
        # not in the state_dict: the converted checkpoint holds the constructor's value
        self.register_buffer("offsets", torch.arange(steps).float() / steps, persistent=False)

    def forward(self, idx):
        h = self.drop(self.proj(self.wte(idx))) * self.scale
        return self.lm_head(h + self.offsets[: idx.shape[1]].unsqueeze(-1))
"""


@pytest.fixture(scope="module")
def tied(tmp_path_factory):
    d = tmp_path_factory.mktemp("tied")
    _, tmod, jmod, wmod = translate_files(TIED, d)  # the translation next to model.py is what convert uses
    torch.manual_seed(0)
    t_model = tmod.Tied()
    perturb(t_model, seed=2)
    t_model.eval()
    assert t_model.lm_head.weight is t_model.wte.weight and "offsets" not in t_model.state_dict()
    torch.save(t_model.state_dict(), d / "tied.pt")
    idx = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 19]])
    with torch.no_grad():
        expected = t_model(torch.from_numpy(idx)).numpy()
    return {"dir": d, "src": d / "model.py", "jmod": jmod, "wmod": wmod, "ckpt": d / "tied.pt",
            "idx": idx, "expected": expected, "t_model": t_model}


@pytest.mark.parametrize("fmt", ["orbax", "safetensors"])
def test_tied_weights_and_buffers_through_the_cli(tied, fmt):
    import jax.numpy as jnp
    from flax import nnx

    out = tied["dir"] / f"tied.{fmt}"
    r = run("convert", f"{tied['src']}:Tied", tied["ckpt"], "-o", out, "--format", fmt)
    assert r.exit_code == 0, r.output
    assert str(tied["dir"] / "model_nnx.py") in r.output, r.output  # the translation next to the source
    assert "1 from the constructor" in r.output, r.output  # offsets
    for abstract in (True, False):
        make = lambda: tied["jmod"].Tied(rngs=nnx.Rngs(5))  # noqa: E731
        model = nnx.eval_shape(make) if abstract else make()
        tied["wmod"].load_checkpoint(model, out)
        assert model.lm_head.weight is model.wte.embedding  # still one parameter
        np.testing.assert_allclose(np.asarray(model.offsets.get_value()), np.arange(16) / 16, atol=0)
        np.testing.assert_allclose(np.asarray(model.scale.get_value()), tied["t_model"].scale.numpy(), atol=0)
        model.eval()
        y = nnx.jit(lambda m, i: m(i))(model, jnp.asarray(tied["idx"]))
        np.testing.assert_allclose(np.asarray(y), tied["expected"], rtol=RTOL, atol=ATOL, err_msg=str(abstract))
        model.train()  # the abstract model's dropout stream was seeded: it draws
        assert np.isfinite(np.asarray(nnx.jit(lambda m, i: m(i))(model, jnp.asarray(tied["idx"])))).all()


def test_prefixes_of_wrappers_are_recognised_or_stripped(tied, tmp_path):
    from flax import nnx

    sd = tied["t_model"].state_dict()
    torch.save({"_orig_mod." + k: v for k, v in sd.items()}, tmp_path / "compiled.pt")
    torch.save({"net." + k: v for k, v in sd.items()}, tmp_path / "net.pt")
    r = run("convert", f"{tied['src']}:Tied", tmp_path / "compiled.pt", "-o", tmp_path / "a.safetensors",
            "--format", "safetensors")
    assert r.exit_code == 0 and "prefix '_orig_mod.' taken off" in r.output, r.output
    r = run("convert", f"{tied['src']}:Tied", tmp_path / "net.pt", "-o", tmp_path / "b.safetensors",
            "--format", "safetensors")
    assert r.exit_code == 1 and "unexpected keys: net.scale, net.wte.weight" in r.output, r.output  # no wrapper
    assert not (tmp_path / "b.safetensors").exists()
    r = run("convert", f"{tied['src']}:Tied", tmp_path / "net.pt", "-o", tmp_path / "b.safetensors",
            "--format", "safetensors", "--strip-prefix", "net.")
    assert r.exit_code == 0, r.output
    a = state_of(tied["wmod"].load_checkpoint(nnx.eval_shape(lambda: tied["jmod"].Tied(rngs=nnx.Rngs(0))),
                                              tmp_path / "a.safetensors"))
    b = state_of(tied["wmod"].load_checkpoint(nnx.eval_shape(lambda: tied["jmod"].Tied(rngs=nnx.Rngs(0))),
                                              tmp_path / "b.safetensors"))
    np.testing.assert_array_equal(a["proj.kernel"], sd["proj.weight"].numpy().T)
    np.testing.assert_array_equal(b["proj.kernel"], sd["proj.weight"].numpy().T)
    # a model whose own attribute is called "model" keeps its keys
    assert strip_prefixes(["model.a", "model.b"], ["model.a", "model.b"], None) == \
        ({"model.a": "model.a", "model.b": "model.b"}, "")
    assert strip_prefixes(["module.model.a"], ["model.a"], None)[1] == "module."


def test_a_checkpoint_that_does_not_fit_is_reported_whole_and_nothing_is_written(tied, tmp_path):
    sd = dict(tied["t_model"].state_dict())
    del sd["proj.bias"]
    sd["extra.weight"] = torch.zeros(3)
    sd["scale"] = torch.ones(5)
    torch.save(sd, tmp_path / "bad.pt")
    out = tmp_path / "out"
    r = run("convert", f"{tied['src']}:Tied", tmp_path / "bad.pt", "-o", out)
    assert r.exit_code == 1, r.output
    assert "missing keys: proj.bias" in r.output and "unexpected keys: extra.weight" in r.output, r.output
    assert "shape mismatches: scale: torch (5,) -> nnx (8,)" in r.output, r.output
    assert sorted(os.listdir(tmp_path)) == ["bad.pt"]  # no OUT, no temporary left beside it
    # --no-strict: what is missing or mismatched keeps the constructor's value, and says so
    r = run("convert", f"{tied['src']}:Tied", tmp_path / "bad.pt", "-o", out, "--no-strict")
    assert r.exit_code == 0 and "warning: --no-strict: missing keys: proj.bias" in r.output, r.output
    from flax import nnx

    model = tied["wmod"].load_checkpoint(nnx.eval_shape(lambda: tied["jmod"].Tied(rngs=nnx.Rngs(0))), out)
    np.testing.assert_array_equal(np.asarray(model.scale.get_value()), np.ones(8))  # the constructor's
    np.testing.assert_array_equal(np.asarray(model.proj.bias.get_value()), np.zeros(8))  # nnx.Linear's init
    np.testing.assert_array_equal(np.asarray(model.proj.kernel.get_value()), sd["proj.weight"].numpy().T)


class Payload:
    """Unpickling this creates a file: what a malicious checkpoint could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_that_runs_code_is_refused_and_nothing_is_written(tied, tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"wte.weight": torch.zeros(20, 8), "payload": Payload(str(marker))}, tmp_path / "evil.pt")
    # the file really is malicious: plain unpickling creates the marker
    subprocess.run([sys.executable, "-c", f"import torch; torch.load({str(tmp_path / 'evil.pt')!r}, "
                                          f"weights_only=False)"], check=True)
    assert marker.exists()
    marker.unlink()
    out = tmp_path / "out"
    r = run("convert", f"{tied['src']}:Tied", tmp_path / "evil.pt", "-o", out)
    assert r.exit_code == 123, r.output
    assert "refusing to load: unpickling it would call io.open" in r.output and "weights_only" in r.output, r.output
    assert not marker.exists() and not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["evil.pt"]
    with pytest.raises(UnsafeCheckpointError):
        tied["wmod"].load_torch_checkpoint(tied["jmod"].Tied(rngs=__import__("flax").nnx.Rngs(0)),
                                           tmp_path / "evil.pt")
    assert not marker.exists()


def test_an_existing_output_is_only_replaced_with_force(tied, tmp_path):
    out = tmp_path / "out.safetensors"
    out.write_text("precious")
    args = ["convert", f"{tied['src']}:Tied", tied["ckpt"], "-o", out, "--format", "safetensors"]
    r = run(*args)
    assert r.exit_code == 2 and "--force" in r.output, r.output
    assert out.read_text() == "precious"
    r = run(*args, "--force")
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] != b"precious"
    # an Orbax directory over an existing one
    d = tmp_path / "ckpt"
    assert run("convert", f"{tied['src']}:Tied", tied["ckpt"], "-o", d).exit_code == 0
    assert run("convert", f"{tied['src']}:Tied", tied["ckpt"], "-o", d).exit_code == 2
    assert run("convert", f"{tied['src']}:Tied", tied["ckpt"], "-o", d, "--force").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "out.safetensors"]  # nothing left beside


@pytest.mark.parametrize("fmt", ["orbax", "safetensors"])
def test_an_interrupted_conversion_leaves_nothing_to_load(tied, tmp_path, monkeypatch, fmt):
    from torch2nnx.checkpoints import convert as convert_mod
    from torch2nnx.checkpoints.target import translated_model

    calls = []
    real = convert_mod.converted

    def dies_on_third(item, source):
        calls.append(item.path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(item, source)

    monkeypatch.setattr(convert_mod, "converted", dies_on_third)
    out = tmp_path / "out"
    with translated_model(tied["src"], "Tied") as (build, wmod, where):
        assert str(tied["dir"]) in where  # the translation next to the source
        with pytest.raises(KeyboardInterrupt):
            convert_checkpoint(build, wmod, tied["ckpt"], out, fmt=fmt)
    assert len(calls) == 3
    assert sorted(os.listdir(tmp_path)) == []
    with pytest.raises(FileNotFoundError):
        tied["wmod"].load_checkpoint(tied["jmod"].Tied(rngs=__import__("flax").nnx.Rngs(0)), out)


def test_usage_errors(tied, tmp_path):
    r = run("convert", f"{tied['src']}:Tied", tied["ckpt"], "-o", tmp_path / "o", "--kwargs", "[1]")
    assert r.exit_code == 2 and "JSON object" in r.output
    r = run("convert", f"{tied['src']}", tied["ckpt"], "-o", tmp_path / "o")
    assert r.exit_code == 2
    (tmp_path / "x.txt").write_text("hi")
    r = run("convert", f"{tied['src']}:Tied", tmp_path / "x.txt", "-o", tmp_path / "o")
    assert r.exit_code == 123 and "unknown checkpoint kind" in r.output, r.output
    (tmp_path / "x.pt").write_text("garbage")
    r = run("convert", f"{tied['src']}:Tied", tmp_path / "x.pt", "-o", tmp_path / "o")
    assert r.exit_code == 123 and "not a pickle torch.load(weights_only=True) can read" in r.output, r.output
    with pytest.raises(CheckpointError):
        tied["wmod"].load_torch_checkpoint(None, tmp_path / "x.txt")
    with pytest.raises(OutputExistsError):
        convert_checkpoint(None, tied["wmod"], tied["ckpt"], tmp_path / "x.txt")
    assert issubclass(MismatchError, ValueError)  # like load_torch_state_dict's
