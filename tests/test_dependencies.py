"""Every third-party module the product imports is a dependency it declares in pyproject.toml
(not one that merely arrives with another package)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("collector", "dashboard")
FIRST_PARTY = {"collector", "dashboard", "migrations"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0] for dep in project["dependencies"]}
    return {n.lower().replace("_", "-") for n in names}


def _imported() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    tops = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    found.setdefault(top, path)
    return found


def test_every_imported_distribution_is_declared() -> None:
    dists = packages_distributions()
    declared = _declared()
    missing = []
    for module, path in sorted(_imported().items()):
        if module in FIRST_PARTY or module in sys.stdlib_module_names:
            continue
        owners = {d.lower().replace("_", "-") for d in dists.get(module, [])}
        assert owners, f"{module} (imported in {path.relative_to(ROOT)}) is not installed"
        if not owners & declared:
            missing.append(f"{module} ({'/'.join(sorted(owners))}, in {path.relative_to(ROOT)})")
    assert not missing, "imported but not declared in pyproject.toml: " + ", ".join(missing)
