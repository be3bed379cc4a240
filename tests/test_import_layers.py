"""The stage order of docs/contributing.md, checked by import-linter on the installed sources.

A later stage may call an earlier one; the reverse makes a stage depend on what runs after it
(contracts in pyproject.toml, ``[tool.importlinter]``). The test also shows the contract bites:
a copy of the package with one forbidden import fails it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                           "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": ""}, capture_output=True, text=True,
                          timeout=300)


def test_stages_follow_the_data_flow() -> None:
    done = _lint(REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_an_import_against_the_flow_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(REPO / "svseg", tmp_path / "svseg", ignore=shutil.ignore_patterns("__pycache__", "demo_data"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    planner = tmp_path / "svseg" / "planning" / "planner.py"
    planner.write_text(planner.read_text(encoding="utf-8") + "\nfrom svseg.evaluation import api  # noqa\n",
                       encoding="utf-8")
    done = _lint(tmp_path)
    assert done.returncode != 0
    assert "svseg.planning.planner -> svseg.evaluation.api" in done.stdout
