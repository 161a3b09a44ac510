"""The long-modules-first list names modules that exist, and collection starts with them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import LONGEST_MODULES

ROOT = Path(__file__).resolve().parents[1]


def test_every_listed_module_exists() -> None:
    missing = [path for path in LONGEST_MODULES if not (ROOT / path).is_file()]
    assert missing == []


def test_collection_starts_with_the_longest_modules() -> None:
    listed = [*LONGEST_MODULES[:2], "tests/test_units.py"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/test_units.py", *reversed(LONGEST_MODULES[:2])],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    modules = [line.split("::")[0] for line in done.stdout.splitlines() if "::" in line]
    assert list(dict.fromkeys(modules)) == listed, done.stdout[-2000:] + done.stderr[-2000:]
