"""``torch2nnx verify`` (torch2nnx/verify.py): parity of a translation, and the
first diverging layer of a broken one."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from torch2nnx.cli import main

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
CNN = ROOT / "examples" / "cnn.py"
CONV2_PADDING = "            padding=((1, 1), (1, 1)),\n            use_bias=False,\n"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def cnn(tmp_path):
    """examples/cnn.py and its translation (+ weights module) in a temporary directory."""
    src = tmp_path / "cnn.py"
    shutil.copy(CNN, src)
    r = run("translate", src, "-o", tmp_path / "cnn_nnx.py", "-q")
    assert r.exit_code == 0, r.output
    return src


def diff_of(stdout: str, label: str) -> float:
    m = re.search(rf"^{re.escape(label)}: max abs diff (\S+) \((OK|DIFFERS)\)$", stdout, re.M)
    assert m, stdout
    return float(m.group(1))


def test_verify_translates_and_reports_parity(cnn):
    r = run("verify", f"{cnn}:CNN", "--kwargs", '{"num_classes": 10}', "--input", "float32[2,3,32,32]")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"verify {cnn}:CNN (translated now), eval mode")
    assert 0 < diff_of(r.stdout, "output") < 1e-4  # perturbed weights really went through


def test_verify_per_layer_at_parity(cnn):
    r = run("verify", f"{cnn}:CNN", "--input", "float32[2,3,32,32]", "--per-layer",
            "--translation", cnn.with_name("cnn_nnx.py"))
    assert r.exit_code == 0, r.output
    layers = [l.split()[0] for l in r.stdout.splitlines()[2:] if re.search(r"\((OK|DIFFERS)\)$", l)
              and not l.startswith("output")]
    # every stateful layer, in the order torch finishes them (pooling and ReLU are functions in NNX)
    assert layers == ["conv1", "bn1", "conv2", "bn2", "dropout", "fc"], r.stdout
    assert "no layer diverges" in r.stdout


def test_verify_names_the_first_diverging_layer_of_a_broken_translation(cnn):
    out = cnn.with_name("cnn_nnx.py")
    code = out.read_text()
    assert code.count(CONV2_PADDING) == 1, code
    # the second conv pads on one side only: same shapes, wrong values from conv2 on
    out.write_text(code.replace(CONV2_PADDING, CONV2_PADDING.replace("((1, 1), (1, 1))", "((2, 0), (1, 1))")))
    r = run("verify", f"{cnn}:CNN", "--input", "float32[2,3,32,32]", "--per-layer", "--translation", out)
    assert r.exit_code == 1, r.output
    m = re.search(r"^first diverging layer: (\S+) \(max abs diff (\S+)\)$", r.stdout, re.M)
    assert m and m.group(1) == "conv2", r.stdout
    assert float(m.group(2)) > 1e-2
    assert re.search(r"^conv1 .*\(OK\)$", r.stdout, re.M) and re.search(r"^bn1 .*\(OK\)$", r.stdout, re.M)
    assert diff_of(r.stdout, "output") > 1e-3
    # without --per-layer: the outputs differ, exit 1
    r = run("verify", f"{cnn}:CNN", "--input", "float32[2,3,32,32]", "--translation", out)
    assert r.exit_code == 1 and "first diverging" not in r.stdout


def test_verify_a_model_spanning_files(tmp_path, monkeypatch):
    """A directory translation: the model imports its layers from a sibling file."""
    from test_workflow import make_tree

    pkg = make_tree(tmp_path)
    out = pkg.with_name(pkg.name + "_nnx")
    assert run("translate", pkg, "-o", out, "-q").exit_code == 0
    monkeypatch.syspath_prepend(str(pkg.parent))
    for args in ([], ["--translation", out / "model.py"]):
        r = run("verify", f"{pkg / 'model.py'}:Net", "--input", "float32[2,3,8,8]", "--per-layer", *args)
        assert r.exit_code == 0, r.output
        assert re.search(r"^block2\.bn .*\(OK\)$", r.stdout, re.M), r.stdout


def test_verify_errors(cnn):
    assert run("verify", "no-colon", "--input", "float32[1]").exit_code == 2
    assert run("verify", f"{cnn}:CNN", "--input", "float32[1]", "--kwargs", "[1]").exit_code == 2
    r = run("verify", f"{cnn}:Nope", "--input", "float32[2,3,32,32]")
    assert r.exit_code == 123 and "has no class or function 'Nope'" in r.stderr
    r = run("verify", f"{cnn}:CNN", "--input", "float32[2,3,32")
    assert r.exit_code == 123 and "bad input spec" in r.stderr
