"""The package layout holds: one import name, no hidden imports of our own code, no scikit-learn or
matplotlib for the sync agent. (The layers themselves are import-linter's contracts, run by ``make test``.)"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"leadscore.agent": ROOT / "agent", "leadscore.connectors": ROOT / "connectors"}


def _python_files() -> list[Path]:
    return sorted(p for folder in FOLDERS.values() for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _local_imports(path: Path) -> list[str]:
    """``file:line module`` for each import of our own code inside a function."""
    found: list[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                names = [child.module or ""] if isinstance(child, ast.ImportFrom) else [a.name for a in child.names]
                if isinstance(child, ast.ImportFrom) and child.level:
                    names = ["(relative)"]
                found.extend(f"{path.relative_to(ROOT)}:{child.lineno} {n}" for n in names if n.startswith(("leadscore", "(relative)")))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def test_no_function_local_imports_of_our_own_code() -> None:
    """Imports at the top say what a module depends on, and import-linter can see them; the only
    deferred loads are the named ones of heavy extras (``leadscore.agent.core.extras.load``)."""
    found = [line for path in _python_files() for line in _local_imports(path)]
    assert found == []


def test_every_package_folder_is_in_the_wheel() -> None:
    """``package-dir`` maps folders to names, so packages are listed by hand in pyproject.toml: a
    folder missing there would be missing from the wheel (the editable install would not show it)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        name + "".join("." + part for part in init.parent.relative_to(folder).parts)
        for name, folder in FOLDERS.items()
        for init in folder.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert listed == on_disk


@pytest.mark.parametrize(
    "code",
    [
        "import leadscore.agent.config",
        "import leadscore.agent.sync, leadscore.agent.scheduler, leadscore.connectors.hubspot, leadscore.connectors.salesforce",
        "import sys; sys.argv = ['leadscore', '--help']\nimport leadscore.agent.cli as cli\ntry:\n    cli.main()\nexcept SystemExit:\n    pass",
    ],
    ids=["config", "sync-service", "cli-help"],
)
def test_the_sync_agent_loads_no_predictive_extra(code: str) -> None:
    """``pip install leadscore`` without ``[predictive]`` has no scikit-learn or matplotlib: the sync
    path must not need them (numpy it has: the engine scores over columns)."""
    probe = code + "\nimport sys\nprint(sorted(m for m in ('sklearn', 'matplotlib', 'jinja2') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
