"""``svseg evaluate``'s output folder: an unwritable one fails before any case is read; leftovers are cleared."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from svseg.cli import app

runner = CliRunner()


def test_an_output_under_a_file_fails_before_reading_cases(tmp_path: Path) -> None:
    blocker = tmp_path / "report.txt"
    blocker.write_text("a file")
    missing = tmp_path / "no_predictions"  # would be the first problem if cases were read first
    result = runner.invoke(app, ["evaluate", "-p", str(missing), "-g", str(tmp_path), "-o", str(blocker / "out"),
                                 "-j", "1"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"svseg: error: {blocker / 'out'}: cannot create the evaluation output folder: {blocker} is a "
                     "file, not a folder"]
    assert blocker.read_text() == "a file" and not missing.exists()


def test_temporaries_of_a_killed_evaluation_are_removed_by_the_next(example_2_folders: tuple[Path, Path],
                                                                   tmp_path: Path) -> None:
    pred, gt = example_2_folders
    out = tmp_path / "out"
    out.mkdir()
    leftover = out / ".metrics.json.q1w2e3r4.tmp.json"
    leftover.write_bytes(b"{")  # what kill -9 while writing metrics.json leaves
    result = runner.invoke(app, ["evaluate", "-p", str(pred), "-g", str(gt), "-o", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert not leftover.exists() and (out / "metrics.json").is_file()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
