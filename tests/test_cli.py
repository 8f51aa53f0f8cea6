"""The ``torch2nnx`` command line (torch2nnx/cli.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import torch2nnx
from torch2nnx import translate
from torch2nnx.cli import main

MODEL = """\
import torch

class TModel(torch.nn.Module):
    def __init__(self):
        super(TModel, self).__init__()
        self.conv = torch.nn.Conv2d(in_channels=3, out_channels=4, kernel_size=2, padding='valid')
        self.fc = torch.nn.Linear(in_features=100, out_features=2)

    def forward(self, x):
        x = self.conv(x)
        x = x.reshape(x.shape[0], -1)
        x = self.fc(x)
        return x
"""

# the same model with an unsupported torch call: the translator leaves a TODO
FFT_MODEL = MODEL.replace(
    "        x = self.conv(x)\n",
    "        x = self.conv(x)\n        x = torch.histc(x)\n",
)
FFT_LINE = FFT_MODEL.splitlines().index("        x = torch.histc(x)") + 1

BROKEN = "import torch\n\nclass TModel(torch.nn.Module:\n    pass\n"

PARSE_ERROR_LINE = re.compile(r"^.*:\d+:\d+: T2N900 ")
DIAGNOSTIC_LINE = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): (?P<code>T2N\d{3}) (?P<msg>.+)$")


def run(*args, input=None):
    return CliRunner().invoke(main, list(map(str, args)), input=input, catch_exceptions=False)


@pytest.fixture
def src(tmp_path):
    p = tmp_path / "model.py"
    p.write_text(MODEL)
    return p


@pytest.fixture
def fft_src(tmp_path):
    p = tmp_path / "fftmodel.py"
    p.write_text(FFT_MODEL)
    return p


def files_in(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def test_translate_writes_code_and_weights(src, tmp_path):
    out = tmp_path / "model_nnx.py"
    r = run("translate", src, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    code = out.read_text()
    assert "class TModel(nnx.Module)" in code
    assert "import torch" not in code and "torch." not in code  # docstrings may name torch's layout
    weights = (tmp_path / "model_nnx_weights.py").read_text()
    assert "def load_torch_state_dict" in weights
    assert "model_nnx" in weights  # module_name is the output's stem
    # both files are valid Python and match the library exactly
    compile(code, str(out), "exec")
    compile(weights, "model_nnx_weights.py", "exec")
    expected = translate(MODEL, str(src), module_name="model_nnx")
    assert code == expected.code
    assert weights == expected.weights_code
    assert files_in(tmp_path) == {"model.py", "model_nnx.py", "model_nnx_weights.py"}
    assert r.stderr.strip().splitlines()[-1] == (
        f"translated {src} -> {out} (+ {tmp_path / 'model_nnx_weights.py'}): 0 TODOs"
    )


def test_weights_path_follows_output_stem(src, tmp_path):
    out = tmp_path / "custom.py"
    r = run("translate", src, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "custom_weights.py").is_file()
    assert not (tmp_path / "model_nnx_weights.py").exists()


def test_default_output_is_next_to_source(src, tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = run("translate", src)
    assert r.exit_code == 0, r.stderr
    assert "class TModel(nnx.Module)" in (tmp_path / "model_nnx.py").read_text()
    assert (tmp_path / "model_nnx_weights.py").is_file()
    assert list(elsewhere.iterdir()) == []


def test_weights_out(src, tmp_path):
    out = tmp_path / "model_nnx.py"
    wout = tmp_path / "w" / "porter.py"
    r = run("translate", src, "-o", out, "--weights-out", wout)
    assert r.exit_code == 0, r.stderr
    assert out.is_file()
    assert "def load_torch_state_dict" in wout.read_text()
    assert not (tmp_path / "model_nnx_weights.py").exists()
    assert f"(+ {wout})" in r.stderr


def test_no_weights(src, tmp_path):
    r = run("translate", src, "-o", tmp_path / "model_nnx.py", "--no-weights")
    assert r.exit_code == 0, r.stderr
    assert files_in(tmp_path) == {"model.py", "model_nnx.py"}
    assert "(+" not in r.stderr


def test_no_weights_conflicts_with_weights_out(src, tmp_path):
    r = run("translate", src, "--no-weights", "--weights-out", tmp_path / "w.py")
    assert r.exit_code == 2
    assert files_in(tmp_path) == {"model.py"}


def test_creates_missing_parent_dirs(src, tmp_path):
    out = tmp_path / "a" / "b" / "model_nnx.py"
    r = run("translate", src, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert out.is_file()
    assert (out.parent / "model_nnx_weights.py").is_file()


def test_stdin_to_stdout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("translate", "-", "-o", "-", input=MODEL)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == translate(MODEL).code
    assert "class TModel(nnx.Module)" in r.stdout
    assert r.stderr.strip() == "translated - -> -: 0 TODOs"
    assert list(tmp_path.iterdir()) == []  # no weights module without --weights-out


def test_stdin_defaults_to_stdout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("translate", "-", "-q", input=MODEL)
    assert r.exit_code == 0, r.stderr
    assert "class TModel(nnx.Module)" in r.stdout
    assert r.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_stdin_to_file(tmp_path):
    out = tmp_path / "m_nnx.py"
    r = run("translate", "-", "-o", out, input=MODEL)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    assert "class TModel(nnx.Module)" in out.read_text()
    assert (tmp_path / "m_nnx_weights.py").is_file()


def test_file_to_stdout_with_weights_out(src, tmp_path):
    wout = tmp_path / "model_nnx_weights.py"
    r = run("translate", src, "-o", "-", "--weights-out", wout)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == translate(MODEL, str(src)).code
    assert "def load_torch_state_dict" in wout.read_text()
    assert files_in(tmp_path) == {"model.py", "model_nnx_weights.py"}


def test_file_to_stdout_writes_no_files(src, tmp_path):
    r = run("translate", src, "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert "class TModel(nnx.Module)" in r.stdout
    assert files_in(tmp_path) == {"model.py"}


def test_unparseable_input_exits_123_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(BROKEN)
    r = run("translate", bad, "-o", tmp_path / "bad_nnx.py")
    assert r.exit_code == 123
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert PARSE_ERROR_LINE.match(lines[0]), lines[0]
    assert lines[0].startswith(f"{bad}:")
    assert "cannot parse" in lines[0]
    assert files_in(tmp_path) == {"bad.py"}


def test_unparseable_stdin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("translate", "-", input=BROKEN)
    assert r.exit_code == 123
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("-:") and PARSE_ERROR_LINE.match(lines[0])
    assert list(tmp_path.iterdir()) == []


def test_undecodable_input_exits_123(tmp_path):
    bad = tmp_path / "latin.py"
    bad.write_bytes(b"import torch\nx = '\xff'\n")
    r = run("translate", bad)
    assert r.exit_code == 123
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and re.match(rf"^{re.escape(str(bad))}:2:6: T2N900 ", lines[0]), lines
    assert files_in(tmp_path) == {"latin.py"}


@pytest.mark.parametrize("how", ["same", "relative", "symlink"])
def test_refuses_to_overwrite_input(src, tmp_path, monkeypatch, how):
    before = src.read_bytes()
    if how == "same":
        target = str(src)
    elif how == "relative":
        monkeypatch.chdir(tmp_path)
        target = "./sub/../model.py"
    else:
        link = tmp_path / "link.py"
        link.symlink_to(src)
        target = str(link)
    r = run("translate", src, "-o", target)
    assert r.exit_code == 2
    assert "refusing to overwrite" in r.stderr
    assert src.read_bytes() == before
    expected = {"model.py"} | ({"link.py"} if how == "symlink" else set())
    assert files_in(tmp_path) == expected


def test_refuses_weights_over_input(src, tmp_path):
    before = src.read_bytes()
    r = run("translate", src, "-o", tmp_path / "out.py", "--weights-out", src)
    assert r.exit_code == 2
    assert src.read_bytes() == before
    assert files_in(tmp_path) == {"model.py"}


def test_refuses_weights_over_output(src, tmp_path):
    out = tmp_path / "out.py"
    r = run("translate", src, "-o", out, "--weights-out", out)
    assert r.exit_code == 2
    assert files_in(tmp_path) == {"model.py"}


def test_missing_source_is_usage_error(tmp_path):
    r = run("translate", tmp_path / "nope.py")
    assert r.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_strict_exits_1_on_todos(fft_src, tmp_path):
    out = tmp_path / "fft_nnx.py"
    r = run("translate", fft_src, "-o", out, "--strict")
    assert r.exit_code == 1
    # output files are still written
    assert "TODO(torch2nnx)" in out.read_text()
    assert (tmp_path / "fft_nnx_weights.py").is_file()
    assert r.stderr.strip().splitlines()[-1].endswith(": 1 TODO")


def test_todos_exit_0_without_strict(fft_src, tmp_path):
    r = run("translate", fft_src, "-o", tmp_path / "fft_nnx.py")
    assert r.exit_code == 0, r.stderr


def test_strict_exits_0_without_todos(src, tmp_path):
    r = run("translate", src, "-o", tmp_path / "model_nnx.py", "--strict")
    assert r.exit_code == 0, r.stderr


def test_diagnostics_format_on_stderr(fft_src, tmp_path):
    r = run("translate", fft_src, "-o", tmp_path / "fft_nnx.py")
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[-1].startswith("translated ")
    diags = lines[:-1]
    assert diags, r.stderr
    for line in diags:
        m = DIAGNOSTIC_LINE.match(line)
        assert m and m["path"] == str(fft_src), line
    fft = [DIAGNOSTIC_LINE.match(l) for l in diags if " T2N001 " in l]
    assert len(fft) == 1
    assert int(fft[0]["line"]) == FFT_LINE
    assert "torch.histc" in fft[0]["msg"]
    # exactly what the library reports, formatted with the path as given
    result = translate(FFT_MODEL, str(fft_src))
    assert diags == [d.format(str(fft_src)) for d in result.diagnostics]


def test_quiet_keeps_diagnostics(fft_src, tmp_path):
    r = run("translate", fft_src, "-o", tmp_path / "fft_nnx.py", "-q")
    assert r.exit_code == 0
    lines = r.stderr.splitlines()
    assert lines and all(DIAGNOSTIC_LINE.match(l) for l in lines)
    assert any(" T2N001 " in l for l in lines)
    assert not any(l.startswith("translated ") for l in lines)


def test_stdin_diagnostics_use_dash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("translate", "-", "-o", "-", input=FFT_MODEL)
    assert r.exit_code == 0
    assert any(re.match(rf"^-:{FFT_LINE}:\d+: T2N001 ", l) for l in r.stderr.splitlines()), r.stderr
    assert "T2N001" not in r.stdout.replace("# TODO(torch2nnx): T2N001", "")


def test_line_length_is_passed_through(tmp_path):
    src = tmp_path / "long.py"
    src.write_text(MODEL)
    r = run("translate", src, "-o", tmp_path / "long_nnx.py", "--line-length", "40", "--no-weights")
    assert r.exit_code == 0, r.stderr
    code = (tmp_path / "long_nnx.py").read_text()
    assert code == translate(MODEL, str(src), line_length=40, weights=False).code
    assert code != translate(MODEL, str(src), weights=False).code
    r = run("translate", src, "--line-length", "0")
    assert r.exit_code == 2


def test_output_is_deterministic(fft_src, tmp_path):
    out1, out2 = tmp_path / "one" / "fft_nnx.py", tmp_path / "two" / "fft_nnx.py"
    assert run("translate", fft_src, "-o", out1).exit_code == 0
    assert run("translate", fft_src, "-o", out2).exit_code == 0
    assert out1.read_bytes() == out2.read_bytes()
    assert (out1.parent / "fft_nnx_weights.py").read_bytes() == (out2.parent / "fft_nnx_weights.py").read_bytes()
    # and re-running onto existing files gives the same bytes again
    first = out1.read_bytes()
    assert run("translate", fft_src, "-o", out1).exit_code == 0
    assert out1.read_bytes() == first


def test_atomic_write_leaves_no_temp_files(src, tmp_path):
    out = tmp_path / "model_nnx.py"
    out.write_text("old\n")
    os.chmod(out, 0o640)
    r = run("translate", src, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert files_in(tmp_path) == {"model.py", "model_nnx.py", "model_nnx_weights.py"}
    assert "class TModel(nnx.Module)" in out.read_text()
    assert oct(out.stat().st_mode & 0o777) == oct(0o640)  # an existing file keeps its mode


def test_failed_write_leaves_targets_untouched(src, tmp_path, monkeypatch):
    out = tmp_path / "model_nnx.py"
    out.write_text("old\n")
    calls = []

    def failing_replace(a, b):
        calls.append((a, b))
        raise OSError(28, "No space left on device", str(b))

    monkeypatch.setattr(os, "replace", failing_replace)
    r = run("translate", src, "-o", out)
    assert r.exit_code == 123
    assert calls
    assert out.read_text() == "old\n"
    assert files_in(tmp_path) == {"model.py", "model_nnx.py"}


def test_version():
    r = run("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"torch2nnx {torch2nnx.__version__}"


def test_subprocess_entry_point(src, tmp_path):
    out = tmp_path / "sub" / "model_nnx.py"
    proc = subprocess.run(
        [sys.executable, "-m", "torch2nnx", "translate", str(src), "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "class TModel(nnx.Module)" in out.read_text()
    assert (out.parent / "model_nnx_weights.py").is_file()
    assert proc.stderr.strip().endswith(": 0 TODOs")

    bad = tmp_path / "bad.py"
    bad.write_text(BROKEN)
    proc = subprocess.run([sys.executable, "-m", "torch2nnx", "translate", str(bad)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 123
    assert len(proc.stderr.splitlines()) == 1 and PARSE_ERROR_LINE.match(proc.stderr)
    assert not (tmp_path / "bad_nnx.py").exists()


def test_console_script(src, tmp_path):
    script = Path(sys.executable).with_name("torch2nnx")
    if not script.is_file():
        pytest.skip("console script not installed next to the interpreter")
    proc = subprocess.run([str(script), "translate", "-", "-o", "-"], input=MODEL,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "class TModel(nnx.Module)" in proc.stdout
    assert proc.stderr.strip() == "translated - -> -: 0 TODOs"


MP_LAYERS = '''import torch.nn as nn


class ConvBN(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x)).relu()
'''

MP_MODEL = '''import torch
import torch.nn as nn

from .layers import ConvBN


class Net(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.block = ConvBN(3, 8)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.block(x), 1), 1))
'''


def test_several_files_import_each_others_translations(tmp_path, monkeypatch):
    """translate pkg/model.py pkg/layers.py --suffix _nnx: each next to its
    source, the model's import of layers points to layers_nnx, and the pair
    runs at parity with torch."""
    import importlib

    import numpy as np
    from harness import make_input, run_parity

    pkg = tmp_path / "mpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text(MP_LAYERS)
    (pkg / "model.py").write_text(MP_MODEL)
    result = CliRunner().invoke(main, ["translate", str(pkg / "model.py"), str(pkg / "layers.py"), "--suffix", "_nnx"])
    assert result.exit_code == 0, result.output
    code = (pkg / "model_nnx.py").read_text()
    assert "from mpkg.layers_nnx import ConvBN" in code, code
    assert "ConvBN(3, 8, rngs=rngs)" in code, code
    for name in ("layers_nnx.py", "layers_nnx_weights.py", "model_nnx_weights.py"):
        assert (pkg / name).exists(), name
    monkeypatch.syspath_prepend(str(tmp_path))
    tmod = importlib.import_module("mpkg.model")
    jmod = importlib.import_module("mpkg.model_nnx")
    # the two translations share mpkg/_torch2nnx_helpers.py: imported as the package's module
    assert (pkg / "_torch2nnx_helpers.py").is_file()
    wmod = importlib.import_module("mpkg.model_nnx_weights")
    from torch2nnx.api import translate_many

    files = {m: (str(pkg / f"{m.split('.')[1]}.py"), (pkg / f"{m.split('.')[1]}.py").read_text())
             for m in ("mpkg.layers", "mpkg.model")}
    res = translate_many(files, {m: m + "_nnx" for m in files})["mpkg.model"]
    run_parity(res, tmod, jmod, wmod, "Net", [make_input("float32[2,3,6,6]", np.random.default_rng(0))])


def test_several_files_reject_single_output(tmp_path):
    a = tmp_path / "a.py"
    a.write_text(MP_LAYERS)
    b = tmp_path / "b.py"
    b.write_text(MP_LAYERS)
    result = CliRunner().invoke(main, ["translate", str(a), str(b), "-o", str(tmp_path / "x.py")])
    assert result.exit_code == 2
