"""Fixture cases: fixtures/<case>/model.py (torch), case.json (how to run it)
and the golden translation expected/model_nnx.py + expected/model_nnx_weights.py.

Regenerate the golden files after an intended change in output with:

    python tests/regen_golden.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "fixtures"


def cases() -> list[Path]:
    return sorted(p for p in ROOT.iterdir() if (p / "case.json").exists())


def config(case: Path) -> dict:
    return json.loads((case / "case.json").read_text())


def translate_case(case: Path, out_dir: Path) -> tuple[int, str, str]:
    """Translate a fixture with the CLI; returns (exit code, stderr, stdout)."""
    from click.testing import CliRunner

    from torch2nnx.cli import main

    out_dir.mkdir(parents=True, exist_ok=True)
    runner = CliRunner()
    res = runner.invoke(main, ["translate", str(case / "model.py"), "-o", str(out_dir / "model_nnx.py"), "-q"])
    return res.exit_code, res.stderr if hasattr(res, "stderr") else "", res.stdout
