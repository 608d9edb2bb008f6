"""The layering the design promises: sources -> model -> engine -> report.

The engine imports nothing from ``policycheck.sources``; each cloud's semantics
live in ``engine/providers.py``, so the comparison (``engine/compare.py``) names no
provider and no provider constant.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "policycheck"
PROVIDER_NAMES = {"aws", "azure", "gcp"}
#: Provider knowledge that must stay in providers.py.
PROVIDER_CONSTANTS = ("168.63.129.16", "AzureLoadBalancer", "VirtualNetwork", "goto_next")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_engine_imports_nothing_from_sources() -> None:
    offenders = {
        f"{path.name}: {module}"
        for path in (PACKAGE / "engine").glob("*.py")
        for module in imported_modules(path)
        if module.startswith("policycheck.sources")
    }
    assert offenders == set()


def test_model_imports_neither_sources_nor_engine() -> None:
    modules = imported_modules(PACKAGE / "model.py")
    assert not {m for m in modules if m.startswith(("policycheck.sources", "policycheck.engine"))}


def test_compare_is_provider_neutral() -> None:
    source = (PACKAGE / "engine" / "compare.py").read_text(encoding="utf-8")
    literals = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert not literals & PROVIDER_NAMES
    assert [c for c in PROVIDER_CONSTANTS if c in source] == []
