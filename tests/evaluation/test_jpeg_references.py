"""``svseg evaluate`` against the user's JPEG masks (Kvasir-like): read as ``decoded > 127``, as import reads them.

Expected scores are NumPy's Dice of Pillow's decoding thresholded at 127 against the 0/1
predictions written here; the rule's record is checked in metrics.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from svseg.cli import app
from svseg.io.lossy_masks import RULE

runner = CliRunner()
SHAPE = (48, 56)


def disc(centre: tuple[int, int], radius: int, value: int) -> np.ndarray:
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    return np.where((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2, value, 0).astype(np.uint8)


def save(path: Path, array: np.ndarray, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path, **options)
    return path


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, float]:
    """JPEG references (quality 75) and PNG 0/1 predictions shifted by 1-2 px; NumPy's mean image Dice."""
    gt, preds, scores = tmp_path / "gt", tmp_path / "preds", []
    for i in range(3):
        path = save(gt / f"polyp{i}.jpg", disc((20 + i, 24), 10, 255), quality=75)
        reference = np.asarray(PILImage.open(path)) > 127
        prediction = disc((21 + i, 25 + i), 10 - i, 1)
        save(preds / f"polyp{i}.png", prediction)
        scores.append(2 * np.count_nonzero(reference & (prediction > 0))
                      / (np.count_nonzero(reference) + np.count_nonzero(prediction)))
    return gt, preds, float(np.mean(scores))


def evaluate(preds: Path, gt: Path, out: Path):
    return runner.invoke(app, ["evaluate", "-p", str(preds), "-g", str(gt), "-o", str(out), "-j", "1"])


def test_jpeg_references_are_read_as_binary_and_recorded(folders: tuple[Path, Path, float], tmp_path: Path) -> None:
    gt, preds, expected = folders
    assert len(np.unique(np.asarray(PILImage.open(gt / "polyp0.jpg")))) > 2  # compression noise to read through
    result = evaluate(preds, gt, tmp_path / "out")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["image"]["all"]["dice"] == pytest.approx(expected, abs=1e-12)
    assert 0.6 < expected < 0.99
    values = metrics["settings"]["values"]
    assert values["lossy_masks"] == {"files": 3, "rule": RULE, "references": 3, "predictions": 0}
    assert values["reference_files"] == {"as_labels": 0, "mapped": 3}  # read as 0/255, then 255 -> 1
    assert "3 reference and 0 prediction file(s) were JPEG, read as binary" in " ".join(values["notes"])


def test_png_references_record_no_lossy_masks(folders: tuple[Path, Path, float], tmp_path: Path) -> None:
    gt, preds, _ = folders
    clean = tmp_path / "clean"
    for path in gt.iterdir():
        save(clean / f"{path.stem}.png", disc((20, 24), 10, 255))
    assert evaluate(preds, clean, tmp_path / "out").exit_code == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"]["values"]["lossy_masks"] is None


def test_a_multi_class_jpeg_reference_is_one_line_and_nothing_written(folders: tuple[Path, Path, float],
                                                                      tmp_path: Path) -> None:
    gt, preds, _ = folders
    save(gt / "polyp1.jpg", disc((14, 14), 8, 255) | disc((32, 38), 8, 128), quality=90)
    result = evaluate(preds, gt, tmp_path / "out")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(gt / "polyp1.jpg") in lines[0] and "mid-grey" in lines[0]
    assert not (tmp_path / "out").exists()
