"""The import table of docs/architecture.md, enforced: each package imports only what it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {
    "backend",
    "card_services",
    "device_drivers",
    "firmware_profiles",
    "terminal_agent",
    "national_codes",
    "receipts",
    "xnb_client",
    "xnb",
}
ALLOWED = {
    "national_codes": set(),
    "receipts": set(),
    "firmware_profiles": set(),
    "xnb_client": set(),
    "card_services": {"firmware_profiles"},
    "device_drivers": {"firmware_profiles", "card_services", "national_codes", "receipts"},
    "terminal_agent": {
        "firmware_profiles",
        "card_services",
        "device_drivers",
        "national_codes",
        "receipts",
        "xnb_client",
    },
    "backend": {"card_services", "national_codes", "receipts"},
}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_architecture_allows(package: str):
    offences = []
    for path in sorted((ROOT / package).rglob("*.py")):
        wrong = _imported_packages(path) - ALLOWED[package] - {package}
        if wrong:
            offences.append(f"{path.relative_to(ROOT)} imports {sorted(wrong)}")
    assert offences == []
