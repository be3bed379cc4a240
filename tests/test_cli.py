"""The CLI edge: --version, doctor, help for every command, and the CLI-only rules (R5 in docs/design/style.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

from svseg import __version__
from svseg.cli import app

runner = CliRunner()
CLI_SOURCE = Path(__file__).resolve().parents[1] / "svseg" / "cli.py"


def _command_names() -> list[str]:
    return [command.name or command.callback.__name__ for command in app.registered_commands]


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_doctor_reports_versions_and_folders(isolated_data_root: Path) -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "nnunetv2" in result.output and "torch" in result.output
    assert str(isolated_data_root) in result.output.replace("\n", "")


@pytest.mark.parametrize("command", _command_names())
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def test_commands_stay_thin() -> None:
    """Each command only parses, calls and prints: keep its body short (house rule R5)."""
    tree = ast.parse(CLI_SOURCE.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.endswith("_cmd"):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            lines = body[-1].end_lineno - body[0].lineno + 1
            assert lines <= 20, f"{node.name} has {lines} lines of body"
