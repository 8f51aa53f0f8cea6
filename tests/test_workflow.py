"""The migration workflow (torch2nnx/project.py, config.py, cache.py, report.py
through the CLI): directories, --check/--diff, pyproject configuration,
output formats, the cache, parallel runs."""

from __future__ import annotations

import importlib
import json
import re
import textwrap
from pathlib import Path

from click.testing import CliRunner

from torch2nnx.cli import main

LAYERS = '''\
from torch import nn


class ConvBN(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return nn.functional.relu(self.bn(self.conv(x)))
'''

UTILS = '''\
WIDTH = 8


def double(n):
    return 2 * n
'''

MODEL = '''\
import torch
from torch import nn

from .layers import ConvBN
from .utils import WIDTH, double


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.block = ConvBN(3, WIDTH)
        self.block2 = ConvBN(WIDTH, double(WIDTH))
        self.fc = nn.Linear(double(WIDTH), num_classes)

    def forward(self, x):
        x = self.block2(self.block(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
'''

HEAD = '''\
import torch.nn as nn


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
'''

BROKEN = "import torch\n\nclass B(torch.nn.Module:\n    pass\n"


def run(*args, cwd=None, monkeypatch=None):
    if cwd is not None:
        monkeypatch.chdir(cwd)
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def make_tree(root: Path, broken: bool = False) -> Path:
    """src/<pkg>/: a model importing a layers file (torch) and a utils file (no torch)."""
    pkg = root / "src" / f"wfpkg_{abs(hash(str(root))) % 10**8}"
    (pkg / "heads").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text(LAYERS)
    (pkg / "utils.py").write_text(UTILS)
    (pkg / "model.py").write_text(MODEL)
    (pkg / "heads" / "__init__.py").write_text("")
    (pkg / "heads" / "head.py").write_text(HEAD)
    if broken:
        (pkg / "heads" / "broken.py").write_text(BROKEN)
    return pkg


def tree_files(d: Path) -> set[str]:
    return {p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()}


# --- directories ---------------------------------------------------------------


def test_directory_is_mirrored_and_runs_at_parity(tmp_path, monkeypatch):
    import numpy as np
    from harness import make_input, run_parity

    from torch2nnx.api import translate_many

    pkg = make_tree(tmp_path)
    out = pkg.with_name(pkg.name + "_nnx")
    r = run("translate", pkg, "-o", out)
    assert r.exit_code == 0, r.output
    # the helpers and the weights loader once per tree, where every translation imports them
    assert tree_files(out) == {"layers.py", "layers_weights.py", "model.py", "model_weights.py",
                               "heads/head.py", "heads/head_weights.py", "_torch2nnx_helpers.py"}
    code = (out / "model.py").read_text()
    assert "from ._torch2nnx_helpers import" in (out / "model_weights.py").read_text()
    assert "from .._torch2nnx_helpers import" in (out / "heads" / "head_weights.py").read_text()
    assert "def port_state_dict" not in (out / "model_weights.py").read_text()
    # translated sibling: the mirror's module; untranslated (no torch): the original package, absolute
    assert f"from {out.name}.layers import ConvBN" in code, code
    assert f"from {pkg.name}.utils import WIDTH, double" in code, code
    lines = r.stderr.splitlines()
    assert f"skipped {pkg / 'utils.py'}: does not use torch" in lines
    assert lines[-1] == "3 files translated, 3 skipped (no torch); 0 TODOs."

    monkeypatch.syspath_prepend(str(pkg.parent))
    tmod = importlib.import_module(f"{pkg.name}.model")
    jmod = importlib.import_module(f"{out.name}.model")
    wmod = importlib.import_module(f"{out.name}.model_weights")
    files = {f"{pkg.name}.{m}": (str(pkg / f"{m}.py"), (pkg / f"{m}.py").read_text()) for m in ("layers", "model")}
    # the library API keeps each translation self-contained; the same code otherwise
    res = translate_many(files, {m: m.replace(pkg.name, out.name) for m in files})[f"{pkg.name}.model"]
    assert "_torch2nnx_helpers" not in res.code
    assert code.count("class ") == res.code.count("class ")
    run_parity(res, tmod, jmod, wmod, "Net", [make_input("float32[2,3,6,6]", np.random.default_rng(0))])


def test_one_failure_never_stops_the_others(tmp_path):
    pkg = make_tree(tmp_path, broken=True)
    out = tmp_path / "out"
    r = run("translate", pkg, "-o", out, "--no-cache")
    assert r.exit_code == 123, r.output
    assert (out / "model.py").is_file() and (out / "heads" / "head.py").is_file()
    assert not (out / "heads" / "broken.py").exists()
    assert any(re.match(rf"^{re.escape(str(pkg / 'heads' / 'broken.py'))}:\d+:\d+: T2N900 ", l)
               for l in r.stderr.splitlines()), r.stderr
    assert r.stderr.splitlines()[-1] == "3 files translated, 3 skipped (no torch), 1 failed; 0 TODOs."


def test_output_directory_inside_the_source_is_not_walked(tmp_path):
    pkg = make_tree(tmp_path)
    out = pkg / "nnx"
    assert run("translate", pkg, "-o", out).exit_code == 0
    r = run("translate", pkg, "-o", out, "--check")
    assert r.exit_code == 0, r.output
    assert not (out / "nnx").exists()


def test_directory_needs_an_output_directory(tmp_path):
    pkg = make_tree(tmp_path)
    assert run("translate", pkg).exit_code == 2
    assert run("translate", pkg, "-o", pkg).exit_code == 2


# --- --check / --diff ----------------------------------------------------------------


def test_check_on_an_up_to_date_tree_is_silent(tmp_path):
    pkg = make_tree(tmp_path)
    out = tmp_path / "out"
    assert run("translate", pkg, "-o", out).exit_code == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.py")}
    r = run("translate", pkg, "-o", out, "--check")
    assert r.exit_code == 0
    assert r.output == "" and r.stderr == ""
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.py")} == before


def test_check_names_each_stale_or_missing_translation_and_writes_nothing(tmp_path):
    pkg = make_tree(tmp_path)
    out = tmp_path / "out"
    assert run("translate", pkg, "-o", out).exit_code == 0
    (pkg / "layers.py").write_text(LAYERS.replace("padding=1", "padding=2"))  # the source moved on
    (out / "heads" / "head_weights.py").unlink()  # a translation went missing
    snapshot = {p: p.read_text() for p in out.rglob("*.py")}
    r = run("translate", pkg, "-o", out, "--check")
    assert r.exit_code == 1, r.output
    stale = [l for l in r.stderr.splitlines() if l.startswith("would translate ")]
    assert stale == [f"would translate {pkg / 'layers.py'} -> {out / 'layers.py'}",
                     f"would translate {pkg / 'heads' / 'head.py'} -> {out / 'heads' / 'head_weights.py'}"], r.stderr
    assert r.stderr.splitlines()[-1] == "2 files would be translated, 1 unchanged, 3 skipped (no torch); 0 TODOs."
    assert {p: p.read_text() for p in out.rglob("*.py")} == snapshot
    assert r.stdout == ""


def test_diff_prints_what_would_change(tmp_path):
    pkg = make_tree(tmp_path)
    out = tmp_path / "out"
    assert run("translate", pkg, "-o", out).exit_code == 0
    (pkg / "layers.py").write_text(LAYERS.replace("padding=1", "padding=2"))
    old = (out / "layers.py").read_text()
    r = run("translate", pkg, "-o", out, "--diff")
    assert r.exit_code == 0  # like black: --diff alone does not fail
    assert f"--- a/{out / 'layers.py'}\n+++ b/{out / 'layers.py'}\n" in r.stdout
    assert re.search(r"^-.*padding=\(\(1, 1\), \(1, 1\)\)", r.stdout, re.M), r.stdout
    assert re.search(r"^\+.*padding=\(\(2, 2\), \(2, 2\)\)", r.stdout, re.M), r.stdout
    assert "\x1b[" not in r.stdout
    assert (out / "layers.py").read_text() == old
    r = run("translate", pkg, "-o", out, "--diff", "--check", "--color")
    assert r.exit_code == 1
    assert "\x1b[32m+" in r.stdout and "\x1b[31m-" in r.stdout
    # a missing file is diffed against /dev/null
    (out / "model.py").unlink()
    r = run("translate", pkg, "-o", out, "--diff")
    assert f"--- /dev/null\n+++ b/{out / 'model.py'}\n" in r.stdout


# --- pyproject.toml ----------------------------------------------------------------


def write_pyproject(root: Path, body: str) -> None:
    (root / "pyproject.toml").write_text(textwrap.dedent(body))
    (root / ".git").mkdir(exist_ok=True)  # the walk up stops at the repository root


def test_config_paths_are_translated_from_a_subdirectory(tmp_path, monkeypatch):
    pkg = make_tree(tmp_path)
    rel = pkg.relative_to(tmp_path).as_posix()
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "head.py").write_text(HEAD)
    write_pyproject(tmp_path, f"""
        [tool.torch2nnx]
        line-length = 60
        weights-suffix = "_port"

        [tool.torch2nnx.paths]
        "{rel}" = "{rel}_nnx"
        "scripts/*.py" = "{{dir}}/{{stem}}_jax.py"
    """)
    monkeypatch.chdir(tmp_path / "scripts")  # found by walking up, like black
    r = run("translate")
    assert r.exit_code == 0, r.output
    out = pkg.with_name(pkg.name + "_nnx")
    assert tree_files(out) == {"layers.py", "layers_port.py", "model.py", "model_port.py",
                               "heads/head.py", "heads/head_port.py", "_torch2nnx_helpers.py"}
    assert (tmp_path / "scripts" / "head_jax.py").is_file() and (tmp_path / "scripts" / "head_jax_port.py").is_file()
    assert max(len(l) for l in (out / "model.py").read_text().splitlines()) <= 60
    assert run("translate", "--check").exit_code == 0
    # a configured file named on the command line (as a hook does) is checked against its configured target
    (tmp_path / "scripts" / "head_jax.py").write_text("stale\n")
    r = run("translate", "--check", tmp_path / "scripts" / "head.py", tmp_path / "scripts" / "head_jax.py")
    assert r.exit_code == 1
    assert [l for l in r.stderr.splitlines() if l.startswith("would")] == [
        "would translate head.py -> head_jax.py"]
    # command-line options override the file
    r = run("translate", "--check", "-l", "88")
    assert r.exit_code == 1
    assert f"would translate {pkg / 'model.py'}" in r.stderr


def test_unknown_config_key_is_an_error_naming_it(tmp_path, monkeypatch):
    write_pyproject(tmp_path, """
        [tool.torch2nnx]
        line-lenght = 80
    """)
    monkeypatch.chdir(tmp_path)
    r = run("translate")
    assert r.exit_code == 2
    assert "unknown key 'line-lenght' in [tool.torch2nnx]" in r.stderr
    assert str(tmp_path / "pyproject.toml") in r.stderr


def test_invalid_config_value_is_an_error(tmp_path, monkeypatch):
    write_pyproject(tmp_path, """
        [tool.torch2nnx]
        strict = "yes"
    """)
    monkeypatch.chdir(tmp_path)
    r = run("translate")
    assert r.exit_code == 2 and "invalid value for 'strict'" in r.stderr


def test_config_strict(tmp_path, monkeypatch):
    (tmp_path / "m.py").write_text(HEAD.replace("return self.fc(x)", "return torch.histc(self.fc(x))")
                                   .replace("import torch.nn as nn", "import torch\nimport torch.nn as nn"))
    write_pyproject(tmp_path, """
        [tool.torch2nnx]
        strict = true
        [tool.torch2nnx.paths]
        "m.py" = "m_nnx.py"
    """)
    monkeypatch.chdir(tmp_path)
    assert run("translate").exit_code == 1
    assert run("translate", "--no-strict").exit_code == 0


def test_no_sources_and_no_config_is_a_usage_error(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    r = run("translate")
    assert r.exit_code == 2 and "no SRC given" in r.stderr


# --- output formats ------------------------------------------------------------------

TODO_MODEL = HEAD.replace("import torch.nn as nn", "import torch\nimport torch.nn as nn").replace(
    "return self.fc(x)", "return torch.histc(self.fc(x))")


def test_output_format_json(tmp_path):
    (tmp_path / "m.py").write_text(TODO_MODEL)
    (tmp_path / "bad.py").write_text(BROKEN)
    r = run("translate", tmp_path / "m.py", tmp_path / "bad.py", "--output-format", "json")
    assert r.exit_code == 123
    items = json.loads(r.stdout)
    codes = sorted((Path(i["path"]).name, i["code"], i["severity"]) for i in items)
    assert codes == [("bad.py", "T2N900", "error"), ("m.py", "T2N001", "warning")]
    todo = next(i for i in items if i["code"] == "T2N001")
    assert todo["line"] == TODO_MODEL.splitlines().index("        return torch.histc(self.fc(x))") + 1
    assert "torch.histc" in todo["message"]


def test_output_format_github(tmp_path):
    (tmp_path / "m.py").write_text(TODO_MODEL)
    r = run("translate", tmp_path / "m.py", "--output-format", "github", "--check")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert any(re.match(rf"^::warning file={re.escape(str(tmp_path / 'm.py'))},line=\d+,col=\d+,title=T2N001::"
                        r".*torch\.histc", l) for l in lines), r.stdout
    assert any(l.startswith(f"::error file={tmp_path / 'm_nnx.py'}::translation of ") for l in lines), r.stdout


# --- cache and parallel runs --------------------------------------------------------


def test_cache_skips_unchanged_sources(tmp_path, monkeypatch):
    import torch2nnx.project as project

    monkeypatch.setenv("TORCH2NNX_CACHE_DIR", str(tmp_path / "cache"))
    pkg = make_tree(tmp_path)
    out = tmp_path / "out"
    assert run("translate", pkg, "-o", out).exit_code == 0
    calls = []
    real = project._translate_job
    # in this process (threads), so the calls can be counted
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(project, "_pool", lambda workers: ThreadPoolExecutor(1))
    monkeypatch.setattr(project, "_translate_job", lambda job: calls.append(job[0]) or real(job))
    real_scan = project._scan
    scans = []
    monkeypatch.setattr(project, "_scan", lambda *a: scans.append(a) or real_scan(*a))
    assert run("translate", pkg, "-o", out, "--check", "-j", "1").exit_code == 0
    assert calls == [] and scans == []  # nothing parsed, nothing translated
    # a changed source alone is translated again: the files it imports bring their
    # classes and layouts from the cache (incremental.py; tests/test_incremental.py)
    (pkg / "model.py").write_text(MODEL.replace("num_classes=10", "num_classes=5"))
    assert run("translate", pkg, "-o", out, "--check", "-j", "1").exit_code == 1
    assert sorted(c.rpartition(".")[2] for c in calls) == ["model"]
    # an edited translation is noticed although its source did not change
    calls.clear()
    (out / "heads" / "head.py").write_text("# edited\n")
    r = run("translate", pkg, "-o", out, "-j", "1")
    assert r.exit_code == 0
    assert "head" in [c.rpartition(".")[2] for c in calls]
    assert "# edited" not in (out / "heads" / "head.py").read_text()
    # --no-cache translates everything
    calls.clear()
    assert run("translate", pkg, "-o", out, "--check", "--no-cache", "-j", "1").exit_code == 0
    assert len(calls) == 3


def test_cache_key_has_version_and_rules(tmp_path, monkeypatch):
    import torch2nnx.cache as cache
    from torch2nnx.rules import registry

    a = cache.Cache(88, tmp_path).path
    assert cache.Cache(88, tmp_path).path == a
    assert cache.Cache(89, tmp_path).path != a
    monkeypatch.setattr(cache, "__version__", "999")
    assert cache.Cache(88, tmp_path).path != a
    monkeypatch.undo()
    monkeypatch.setattr(registry, "fingerprint", lambda: "other-rules")
    assert cache.Cache(88, tmp_path).path != a


def test_parallel_run_gives_the_same_files(tmp_path):
    pkg = make_tree(tmp_path)
    one, two = tmp_path / "out_qqq", tmp_path / "out_zzz"
    r1 = run("translate", pkg, "-o", one, "-j", "1", "--no-cache")
    r2 = run("translate", pkg, "-o", two, "-j", "2", "--no-cache")
    assert r1.exit_code == r2.exit_code == 0
    assert tree_files(one) == tree_files(two)
    for f in tree_files(one):
        a, b = (one / f).read_text(), (two / f).read_text()
        assert a.replace("out_qqq", "X") == b.replace("out_zzz", "X"), f


def test_config_glob_with_files_of_one_name(tmp_path, monkeypatch):
    for d in ("a", "b"):
        (tmp_path / "zoo" / d).mkdir(parents=True)
        (tmp_path / "zoo" / d / "model.py").write_text(HEAD.replace("nn.Linear(4, 2)", f"nn.Linear(4, {len(d) + ord(d) % 3})"))
    (tmp_path / "zoo" / "a" / "notes.py").write_text("X = 1\n")
    write_pyproject(tmp_path, """
        [tool.torch2nnx.paths]
        "zoo/*/*.py" = "{dir}/{stem}_nnx.py"
    """)
    monkeypatch.chdir(tmp_path)
    r = run("translate")
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[-1] == "2 files translated, 1 skipped (no torch); 0 TODOs."
    a = (tmp_path / "zoo" / "a" / "model_nnx.py").read_text()
    b = (tmp_path / "zoo" / "b" / "model_nnx.py").read_text()
    assert "nnx.Linear(4, 2, rngs=rngs)" in a and "nnx.Linear(4, 3, rngs=rngs)" in b
    assert run("translate", "--check").exit_code == 0
