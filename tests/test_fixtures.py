"""Every fixture: the CLI's translation matches the golden files, and the
translated model, loaded through its weights module, matches torch."""

from __future__ import annotations

import difflib

import numpy as np
import pytest

from fixture_cases import cases, config, translate_case
from harness import load_module, make_input, run_parity

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case, tmp_path):
    code, err, _ = translate_case(case, tmp_path)
    assert code == 0, err
    for name in ("model_nnx.py", "model_nnx_weights.py"):
        expected = (case / "expected" / name).read_text()
        actual = (tmp_path / name).read_text()
        if actual != expected:
            diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                                f"expected/{name}", f"actual/{name}"))
            pytest.fail(f"{case.name}/{name} differs from the golden file "
                        f"(python tests/regen_golden.py regenerates):\n{diff}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_parity(case, tmp_path):
    import torch2nnx

    cfg = config(case)
    source = (case / "model.py").read_text()
    result = torch2nnx.translate(source, str(case / "model.py"), module_name="model_nnx")
    assert "TODO(torch2nnx)" not in result.code, result.code
    (tmp_path / "model_nnx.py").write_text(result.code)
    (tmp_path / "model_nnx_weights.py").write_text(result.weights_code)
    tmod = load_module(case / "model.py")
    jmod = load_module(tmp_path / "model_nnx.py")
    wmod = load_module(tmp_path / "model_nnx_weights.py")
    rng = np.random.default_rng(0)
    inputs = [make_input(s, rng) for s in cfg["inputs"]]
    kwargs = cfg.get("kwargs", {})
    layout = cfg.get("layout_class")
    run_parity(result, tmod, jmod, wmod, cfg["class"], inputs, kwargs=kwargs, layout_class=layout)
    if cfg.get("train"):
        run_parity(result, tmod, jmod, wmod, cfg["class"], inputs, kwargs=kwargs, train=True, layout_class=layout)
    if cfg.get("jit", True):
        run_parity(result, tmod, jmod, wmod, cfg["class"], inputs, kwargs=kwargs, jit=True, layout_class=layout)
    assert sum(result.transposes.values()) == cfg.get("transposes", 0), result.code
