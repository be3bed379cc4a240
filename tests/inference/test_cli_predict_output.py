"""``svseg predict``'s output folder: an unwritable one fails before the model loads; leftovers are cleared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from svseg.cli import app

from .models import make_model_folder

runner = CliRunner()


def _scans(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        PILImage.fromarray((rng.random((40, 30)) * 255).astype(np.uint8)).save(folder / name)
    return folder


def test_an_output_under_a_file_fails_before_the_model_loads(planned: dict, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import svseg.inference.model_loading as model_loading

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the output folder was checked")

    monkeypatch.setattr(model_loading, "load_model", must_not_load)
    model = make_model_folder(tmp_path / "results", planned["png"])
    scans = _scans(tmp_path / "scans")
    blocker = tmp_path / "masks.txt"
    blocker.write_text("a file")
    result = runner.invoke(app, ["predict", "-i", str(scans), "-o", str(blocker / "masks"), "-m", str(model)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"svseg: error: {blocker / 'masks'}: cannot create the output folder: {blocker} is a file, "
                     "not a folder"]
    assert blocker.read_text() == "a file" and sorted(p.name for p in scans.iterdir()) == ["a.png", "b.png"]


def test_temporaries_of_a_killed_prediction_are_removed_by_the_next(planned: dict, tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "results", planned["png"])
    scans = _scans(tmp_path / "scans")
    out = tmp_path / "masks"
    out.mkdir()
    leftover = out / ".a.png.x7_k2m9q.tmp.png"
    leftover.write_bytes(b"")  # what kill -9 during the write of a.png leaves
    result = runner.invoke(app, ["predict", "-i", str(scans), "-o", str(out), "-m", str(model), "--no-tta"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
