"""After training: nnU-Net's validation summary plus svseg's area-stratified evaluation.

nnU-Net's ``perform_actual_validation`` predicts the held-out cases of the fold into
``fold_k/validation/`` and writes ``summary.json`` (Dice per class over whole cases). Small-object
work needs more than that, so the same masks are then scored against the preprocessed
``gt_segmentations`` by :func:`svseg.evaluation.evaluate_folders`, split into the plan's
area-ratio strata, into ``fold_k/validation/evaluation/`` (metrics.json, report.md, report.html,
plots). The overlays are drawn on the cases' raw images (the raw dataset's ``imagesTr``, in the
same original geometry as nnU-Net's exported validation masks and ``gt_segmentations``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def read_validation_summary(fold_dir: Path) -> dict[str, Any]:
    """Foreground and per-class Dice from nnU-Net's ``validation/summary.json`` ({} if absent)."""
    path = fold_dir / "validation" / "summary.json"
    if not path.is_file():
        return {}
    summary = json.loads(path.read_text(encoding="utf-8"))
    return {
        "foreground_dice": summary.get("foreground_mean", {}).get("Dice"),
        "dice_per_class": {label: values.get("Dice") for label, values in summary.get("mean", {}).items()},
        "n_cases": len(summary.get("metric_per_case", [])),
    }


def integer_labels(dataset_json: dict[str, Any]) -> dict[str, int] | None:
    """dataset.json's labels when every label is one integer; None for region labels (lists)."""
    labels = dataset_json.get("labels", {})
    if not all(isinstance(value, int) for value in labels.values()):
        return None
    return dict(labels)


def evaluate_validation(
    fold_dir: Path,
    gt_dir: Path,
    dataset_json: dict[str, Any],
    strata: dict[str, float],
    num_workers: int | None = None,
    images_dir: Path | None = None,
) -> dict[str, Any]:
    """Run svseg's evaluation on the fold's validation masks; returns the headline per stratum.

    With no more cases than cores the cases are scored in this process: starting a pool of
    spawned workers (each importing svseg, torch and SimpleITK) costs more than it saves then.
    `images_dir` defaults to the raw ``imagesTr`` of the dataset whose ``gt_segmentations`` these are.
    """
    from svseg.evaluation import evaluate_folders

    images_dir = images_dir if images_dir is not None else raw_images_dir(gt_dir)
    if num_workers is None:
        cases = len(list((fold_dir / "validation").glob(f"*{dataset_json.get('file_ending', '')}")))
        num_workers = 1 if cases <= (os.cpu_count() or 1) else None
    result = evaluate_folders(
        fold_dir / "validation",
        gt_dir,
        fold_dir / "validation" / "evaluation",
        labels=integer_labels(dataset_json),
        thresholds=(strata["ultra_small"], strata["small"]),
        num_workers=num_workers,
        file_ending=dataset_json.get("file_ending"),
        chill=True,
        images_dir=images_dir,
    )
    return {
        "metrics_path": str(result.metrics_path),
        "object_dice": {stratum: block.get("dice") for stratum, block in result.metrics.get("object", {}).items()},
    }


def raw_images_dir(gt_dir: Path) -> Path | None:
    """``imagesTr`` of the raw dataset named like the preprocessed folder holding `gt_dir`; None if absent."""
    from svseg.errors import SvsegError
    from svseg.paths import resolve_dataset

    try:
        images = resolve_dataset(Path(gt_dir).parent.name).raw_dir / "imagesTr"
    except SvsegError:
        return None
    if not images.is_dir():
        log.info("no raw images in %s: the validation overlays show the masks only", images)
        return None
    return images
