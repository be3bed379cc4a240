"""The demo end to end in a reduced form, and its rerun and environment rules.

The model must beat chance, computed here independently of svseg from the staged reference
masks: the Dice of predicting everything as foreground (the best constant prediction for Dice)
and of a random prediction with the true foreground rate.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from svseg.demo.api import _demo_environment, _start_clean, run_demo
from svseg.errors import SvsegError
from svseg.paths import HOME_ENV, DatasetRef


def _dice(prediction: np.ndarray, reference: np.ndarray) -> float:
    overlap = np.logical_and(prediction, reference).sum()
    return float(2 * overlap / (prediction.sum() + reference.sum()))


def _chance_dice(labels_dir: Path) -> float:
    """Mean per-image Dice of the better of two trivial predictions."""
    rng = np.random.default_rng(0)
    constant, random = [], []
    for path in sorted(labels_dir.glob("*.png")):
        reference = np.asarray(PILImage.open(path)) > 0
        constant.append(_dice(np.ones_like(reference), reference))
        random.append(_dice(rng.random(reference.shape) < reference.mean(), reference))
    return max(float(np.mean(constant)), float(np.mean(random)))


def test_demo_runs_end_to_end_and_beats_chance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HOME_ENV)  # the demo's own default: a data root inside its output folder
    result = run_demo(tmp_path / "demo", minutes=1.0, data="2d", device="cpu", max_cases=8)

    metrics = json.loads(result.metrics_path.read_text(encoding="utf-8"))
    assert metrics["protocol"] == "svseg-eval-1"
    for block in ("object", "image", "paper"):
        assert set(metrics[block]) >= {"ultra_small", "small", "all"}
    assert set(metrics["object"]["all"]["detection"]) >= {"overlap", "iou50"}
    assert metrics["image"]["all"]["n_slices"] == 2  # 20 % of 8 cases held out
    assert result.report_path.is_file()
    assert sorted(p.name for p in result.predictions_dir.iterdir()) == sorted(
        p.name for p in (result.test_cases_dir / "labels").iterdir())

    chance = _chance_dice(result.test_cases_dir / "labels")
    image_dice = metrics["image"]["all"]["dice"]
    assert chance < 0.3
    assert image_dice > chance + 0.1, f"image Dice {image_dice:.3f} vs chance {chance:.3f}"
    rows = {row.stratum: row for row in result.summaries}
    assert rows["all"].image_dice == pytest.approx(image_dice)
    assert "| ultra-small (< 1 %) |" in "\n".join(result.summary_lines())
    assert result.data_root == (tmp_path / "demo" / "svseg_data").resolve()
    assert result.raw_dir.is_relative_to(result.data_root) and result.raw_dir.is_dir()


def test_rerun_removes_only_the_demo_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    demo, other = DatasetRef(3, "DemoNuclei"), DatasetRef(4, "Liver")
    for ref in (demo, other):
        for folder in (ref.raw_dir, ref.preprocessed_dir, ref.results_dir):
            folder.mkdir(parents=True)
    stale = tmp_path / "out" / "predictions" / "old.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    data = _start_clean(tmp_path / "out", "2d", max_cases=2)
    assert data.num_cases == 2 and not stale.parent.exists()
    assert not demo.raw_dir.exists() and not demo.preprocessed_dir.exists() and not demo.results_dir.exists()
    assert other.raw_dir.is_dir() and other.results_dir.is_dir()


def test_environment_defaults_to_the_demo_folder_and_is_restored(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HOME_ENV)
    monkeypatch.setenv("nnUNet_raw", "/elsewhere/raw")
    with _demo_environment(tmp_path) as root:
        assert root == (tmp_path / "svseg_data").resolve()
        assert os.environ["nnUNet_raw"] == str(root / "raw")
    assert HOME_ENV not in os.environ and os.environ["nnUNet_raw"] == "/elsewhere/raw"
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "mine"))
    with _demo_environment(tmp_path / "x") as root:
        assert root == (tmp_path / "mine").resolve()


def test_bad_requests_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(SvsegError, match="minutes"):
        run_demo(tmp_path, minutes=0)
    with pytest.raises(SvsegError, match="at least 7 cases"):
        run_demo(tmp_path, max_cases=6)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_3d_demo_runs_and_reruns_in_the_same_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HOME_ENV)
    first = run_demo(tmp_path / "demo", minutes=1.0, data="3d", device="cpu", max_cases=7)
    second = run_demo(tmp_path / "demo", minutes=1.0, data="3d", device="cpu", max_cases=7)
    assert second.dataset == first.dataset  # the earlier run's dataset was removed, not renamed around
    metrics = json.loads(second.metrics_path.read_text(encoding="utf-8"))
    assert "volume" in metrics and metrics["image"]["all"]["n_slices"] == 20
    assert len(list(second.predictions_dir.glob("*.nii.gz"))) == 1  # one test case of 7
