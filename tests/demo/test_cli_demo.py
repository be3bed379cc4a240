"""``svseg demo`` at the CLI edge: bad input is one line and exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from svseg.cli import app

runner = CliRunner()


def test_non_positive_budget_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--minutes", "0"])
    assert result.exit_code == 2
    assert "--minutes" in result.output
    assert not (tmp_path / "demo").exists()


def test_unknown_data_kind_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--data", "4d"])
    assert result.exit_code == 2
    assert "4d" in result.output
