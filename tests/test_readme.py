"""README.md stays true: the supported-API table, the set-up commands, the example."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from torch2nnx import translate
from torch2nnx.rules_table import markdown_table, text_list

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- rules:start -->", "<!-- rules:end -->"
TEST_COMMAND = "pytest -n auto"


def readme() -> str:
    return README.read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section."""
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"README.md has no '## {title}' section"
    return m.group(1)


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)


def test_rules_table_is_current():
    text = readme()
    assert text.count(START) == 1 and text.count(END) == 1, f"README.md needs one {START} ... {END} pair"
    current = text.split(START, 1)[1].split(END, 1)[0]
    assert current.strip() == markdown_table().strip(), (
        "the supported-API table in README.md is out of date: run `torch2nnx rules` and paste its output "
        f"between {START} and {END}"
    )


def test_rules_table_is_deterministic_and_complete():
    from torch2nnx.rules import registry

    table = markdown_table()
    assert table == markdown_table()
    names = [r.name for r in registry.all_rules()]
    assert sorted(text_list().split()) == sorted(names)
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(names)
    for line in rows:  # every row has exactly the four columns
        assert len(re.findall(r"(?<!\\)\|", line)) == 5, line
    for heading in ("Layers", "torch.nn.functional", "torch functions", "Tensor methods and properties",
                    "constants"):
        assert re.search(rf"^### {re.escape(heading)} \(\d+\)$", table, re.M), heading
    assert "weight→kernel (linear_kernel)" in table


def test_rules_cli_prints_the_table():
    from click.testing import CliRunner

    from torch2nnx.cli import main

    r = CliRunner().invoke(main, ["rules"], catch_exceptions=False)
    assert r.exit_code == 0
    assert r.stdout == markdown_table()
    r = CliRunner().invoke(main, ["rules", "--format", "text"], catch_exceptions=False)
    assert r.exit_code == 0
    assert r.stdout == text_list()
    assert "torch.nn.Conv2d\n" in r.stdout
    assert CliRunner().invoke(main, ["rules", "--format", "html"]).exit_code == 2


def test_setup_commands_are_present():
    blocks = [b for b in code_blocks(section(readme(), "Set-up"))]
    commands = [line for b in blocks for line in b.splitlines() if line.strip()]
    assert len(commands) == 2, f"the Set-up section should hold exactly two commands, found {commands}"
    example, tests = commands
    assert "examples/check_example.py" in example
    assert "translate examples/cnn.py -o out/cnn_nnx.py" in example
    assert "out/cnn_nnx.py" in example.split("examples/check_example.py", 1)[1]
    assert "[runtime]" in example and "torch==2.13.0" in example
    assert TEST_COMMAND in tests
    assert "[test]" in tests


def test_ci_script_runs_the_readme_test_command():
    ci = ROOT / ".ci" / "run"
    text = ci.read_text()
    assert text.startswith("#!") and "set -euo pipefail" in text
    assert TEST_COMMAND in text and '".[test]"' in text
    assert os.stat(ci).st_mode & stat.S_IXUSR, ".ci/run must be executable"


def test_example_translates_without_todos():
    src = ROOT / "examples" / "cnn.py"
    result = translate(src.read_text(), str(src), module_name="cnn_nnx")
    assert result.todo_count == 0, "\n".join(d.format() for d in result.diagnostics)
    assert "class CNN(nnx.Module)" in result.code
    assert not re.search(r"^\s*(import|from) torch", result.code, re.M)
    assert result.weights_code is not None


def test_example_check_passes(tmp_path):
    """The README's first command, minus the install: translate, then check parity."""
    pytest.importorskip("torch")
    out = tmp_path / "out" / "cnn_nnx.py"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-m", "torch2nnx", "translate", "examples/cnn.py", "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (out.parent / "cnn_nnx_weights.py").is_file()
    proc = subprocess.run([sys.executable, "examples/check_example.py", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^max abs diff: \S+ \(OK\)$", proc.stdout, re.M), proc.stdout
