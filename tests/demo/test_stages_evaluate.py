"""The demo's evaluation draws its overlays on the staged test images (images/ beside labels/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from svseg.demo.stages import evaluate_demo
from svseg.paths import DatasetRef

from ..evaluation.examples import example_3, write_pngs


def test_demo_evaluation_finds_the_staged_images(isolated_data_root: Path, tmp_path: Path) -> None:
    dataset = DatasetRef(7, "DemoNuclei")
    dataset.raw_dir.mkdir(parents=True)
    (dataset.raw_dir / "dataset.json").write_text('{"labels": {"background": 0, "nucleus": 1}, "file_ending": ".png"}')
    ref, pred = example_3()
    labels = write_pngs(tmp_path / "test_cases" / "labels", {"nuc_3": ref})
    write_pngs(tmp_path / "test_cases" / "images", {"nuc_3_0000": np.full((100, 100), 90, np.uint8)})
    predictions = write_pngs(tmp_path / "predictions", {"nuc_3": pred})
    result = evaluate_demo(dataset, predictions, labels, tmp_path / "evaluation", {"ultra_small": 0.01, "small": 0.1})
    assert result.metrics["settings"]["images"] == str(tmp_path / "test_cases" / "images")
    assert result.html_path.is_file() and "masks only" not in result.html_path.read_text(encoding="utf-8")
