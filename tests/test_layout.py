"""The house rules of the source tree: import boundaries, no private names across modules, size."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rulecascade", "rules_export")
MAX_LINES = 800


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def test_no_module_imports_another_modules_private_names() -> None:
    found = []
    for path in _sources():
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            target = _absolute(module, node, path.name == "__init__.py")
            if not target.startswith(PACKAGES) or target == module:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {target}.{alias.name}")
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_no_source_module_over_800_lines() -> None:
    long = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for p in _sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert not long, "\n".join(long)


def test_the_private_import_check_sees_a_violation(tmp_path: Path) -> None:
    """The checker above is not vacuous: it resolves relative imports and flags ``_name``."""
    node = ast.parse("from ..data.tables import _fix_header").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _absolute("rulecascade.serve.inputs", node, False) == "rulecascade.data.tables"
    assert node.names[0].name.startswith("_")


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_import_contracts_hold() -> None:
    """pyproject.toml's [tool.importlinter] contracts: rules_export never imports rulecascade, and
    each room of rulecascade imports only the rooms below it (cli > demo > audit > learn > serve >
    data > kernels)."""
    proc = subprocess.run(
        ["lint-imports", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": str(Path(sys.executable).parent) + ":/usr/bin"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout
