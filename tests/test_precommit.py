"""The hooks of .pre-commit-hooks.yaml through the real ``pre-commit`` program,
in a temporary git repository: a commit with a stale translation fails and
shows the diff; after the writing hook the commit passes.

pre-commit builds the hooks' environment from a snapshot of this checkout
(uncommitted changes included) with pip, so this test needs the package index
and takes a minute or so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torch2nnx import translate

ROOT = Path(__file__).resolve().parent.parent

MODEL = '''\
import torch.nn as nn


class Head(nn.Module):
    def __init__(self, n=4):
        super().__init__()
        self.fc = nn.Linear(n, 2)

    def forward(self, x):
        return self.fc(x).relu()
'''

PYPROJECT = '''\
[tool.torch2nnx.paths]
"models/head.py" = "models/head_nnx.py"
'''


def pre_commit_exe() -> str:
    exe = Path(sys.executable).with_name("pre-commit")
    if exe.is_file():
        return str(exe)
    found = shutil.which("pre-commit")
    if not found:
        pytest.fail("pre-commit is not installed (it is in the test extra: pip install -e '.[test]')")
    return found


def git(cwd: Path, *args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=check, timeout=600)


def snapshot_of_this_checkout(dest: Path, env: dict) -> str:
    """A git repository holding what pip needs to install torch2nnx as it is now."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "torch2nnx", dest / "torch2nnx", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git(dest, "init", "-q", env=env)
    git(dest, "add", "-A", env=env)
    git(dest, "commit", "-q", "-m", "snapshot", env=env)
    return git(dest, "rev-parse", "HEAD", env=env).stdout.strip()


@pytest.mark.network
def test_pre_commit_hooks_in_a_temporary_repository(tmp_path):
    env = dict(os.environ)
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com", PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
               TORCH2NNX_CACHE_DIR=str(tmp_path / "cache"), GIT_CONFIG_GLOBAL=os.devnull)
    env.pop("PYTHONPATH", None)  # the hook runs from pre-commit's own environment
    exe = pre_commit_exe()
    rev = snapshot_of_this_checkout(tmp_path / "hooks", env)

    repo = tmp_path / "project"
    (repo / "models").mkdir(parents=True)
    (repo / "models" / "head.py").write_text(MODEL)
    result = translate(MODEL, "models/head.py", module_name="head_nnx")
    (repo / "models" / "head_nnx.py").write_text(result.code)
    (repo / "models" / "head_nnx_weights.py").write_text(result.weights_code)
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / ".pre-commit-config.yaml").write_text(f"""\
repos:
  - repo: {tmp_path / 'hooks'}
    rev: {rev}
    hooks:
      - id: torch2nnx-check
      - id: torch2nnx
        stages: [manual]
""")
    git(repo, "init", "-q", env=env)
    subprocess.run([exe, "install"], cwd=repo, env=env, check=True, capture_output=True, timeout=600)
    git(repo, "add", "-A", env=env)
    first = git(repo, "commit", "-m", "model and its translation", env=env, check=False)
    assert first.returncode == 0, first.stdout + first.stderr  # up to date: the check passes

    # the torch source moves on, its translation does not: the commit fails and shows the diff
    (repo / "models" / "head.py").write_text(MODEL.replace("nn.Linear(n, 2)", "nn.Linear(n, 3)"))
    git(repo, "add", "models/head.py", env=env)
    stale = git(repo, "commit", "-m", "wider head", env=env, check=False)
    out = stale.stdout + stale.stderr
    assert stale.returncode != 0, out
    assert "would translate models/head.py -> models/head_nnx.py" in out, out
    assert "--- a/models/head_nnx.py\n+++ b/models/head_nnx.py\n" in out, out
    assert "-        self.fc = nnx.Linear(n, 2, rngs=rngs)\n+        self.fc = nnx.Linear(n, 3, rngs=rngs)\n" in out, out
    assert "nnx.Linear(n, 2, rngs=rngs)" in (repo / "models" / "head_nnx.py").read_text()  # --check wrote nothing

    # the writing hook brings the translation up to date; the commit passes
    write = subprocess.run([exe, "run", "--hook-stage", "manual", "torch2nnx", "--all-files"], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=600)
    assert write.returncode == 1, write.stdout  # pre-commit fails a hook that modified files
    assert "files were modified by this hook" in write.stdout, write.stdout
    assert "nnx.Linear(n, 3, rngs=rngs)" in (repo / "models" / "head_nnx.py").read_text()
    git(repo, "add", "-A", env=env)
    fixed = git(repo, "commit", "-m", "wider head", env=env, check=False)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "torch2nnx (translations up to date)" in fixed.stdout + fixed.stderr
