"""Dependencies between collector's packages point one way.

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a lazy import
hides a cycle from the interpreter, not from a reader. Shared protocols live in a small
public module both sides import (``collector.admission``), never in one side's internals.
"""

from __future__ import annotations

import ast
import graphlib
import itertools
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTOR = ROOT / "collector"


def _imports(path: Path) -> set[str]:
    """Every ``collector.…`` module (or name) the file imports, wherever the import sits."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "collector"}


def _edges() -> dict[str, dict[str, set[str]]]:
    """``{package: {package it imports: {file:module, …}}}`` for collector's top level."""
    edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(COLLECTOR.rglob("*.py")):
        source = path.relative_to(COLLECTOR).parts[0].removesuffix(".py")
        for name in _imports(path):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] != source:
                edges[source][parts[1]].add(f"{path.relative_to(ROOT)} imports {name}")
    return edges


def test_collectors_packages_import_each_other_without_a_cycle() -> None:
    graph = {source: set(targets) for source, targets in _edges().items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as cycle:
        loop = cycle.args[1]
        why = [line for a, b in itertools.pairwise(loop) for line in sorted(_edges()[b][a])]
        path = " imports ".join(reversed(loop))
        raise AssertionError(f"import cycle: {path}: " + "; ".join(why)) from None


def test_the_query_layer_never_imports_alerts() -> None:
    assert not _edges()["analytics"].get("alerts"), "alerts read analytics, not the reverse"


def test_budgets_never_import_the_gateway() -> None:
    assert not _edges()["budgets"].get("gateway"), "use collector.admission"


def test_no_package_imports_the_gateways_internals() -> None:
    private = [
        line
        for source, targets in _edges().items()
        for line in targets.get("gateway", ())
        if "collector.gateway._" in line
    ]
    assert not private, "import collector.gateway or collector.admission: " + "; ".join(private)


def test_the_gateway_keeps_the_admission_names() -> None:
    import collector.admission as admission
    import collector.gateway as gateway

    for name in ("AdmissionPolicy", "AdmissionRequest", "AllowAll", "Reservation"):
        assert getattr(gateway, name) is getattr(admission, name)
