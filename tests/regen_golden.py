"""Regenerate fixtures/*/expected/ from the current translator (via the CLI).

    python tests/regen_golden.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture_cases import cases, translate_case  # noqa: E402


def main() -> int:
    for case in cases():
        code, err, _ = translate_case(case, case / "expected")
        print(f"{case.name}: exit {code}" + (f"\n{err}" if err.strip() else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
