"""Builders for the evaluation tests: the worked examples of docs/design/evaluation-protocol.md Part C.

All example images are 100 x 100 with one foreground class; coordinates in the design are
inclusive (rows a-b x cols c-d), so ``box(a, b, c, d)`` converts them to array slices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from svseg.evaluation.api import build_metrics
from svseg.evaluation.case import CaseOptions, measure_case
from svseg.io import Image


def box(top: int, bottom: int, left: int, right: int) -> tuple[slice, slice]:
    """Inclusive row/column ranges as array slices."""
    return slice(top, bottom + 1), slice(left, right + 1)


def blank() -> np.ndarray:
    return np.zeros((100, 100), dtype=np.uint8)


def example_1() -> tuple[np.ndarray, np.ndarray]:
    """One ultra-small object: 30-px reference, 25-px prediction (20 TP, 5 FP, 10 FN)."""
    ref, pred = blank(), blank()
    ref[box(10, 15, 10, 14)] = 1
    pred[box(12, 16, 10, 14)] = 1
    return ref, pred


def example_2() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A = Example 1; B: empty reference, 10-px false blob; C: both empty."""
    b_pred = blank()
    b_pred[box(80, 81, 40, 44)] = 1
    return {"A": example_1(), "B": (blank(), b_pred), "C": (blank(), blank())}


def example_3() -> tuple[np.ndarray, np.ndarray]:
    """A 600-px object (r 0.06) and a missed 20-px object (r 0.002), plus a 9-px false blob."""
    ref, pred = blank(), blank()
    ref[box(50, 69, 50, 79)] = 1
    ref[box(10, 13, 10, 14)] = 1
    pred[box(52, 71, 50, 79)] = 1
    pred[box(10, 12, 30, 32)] = 1
    return ref, pred


def as_image(array: np.ndarray, spacing: tuple[float, ...] | None = None) -> Image:
    """A 2D (y, x) or 3D (z, y, x) label array as an in-memory Image with identity geometry."""
    if array.ndim == 2:
        return Image(array=array, spacing=spacing or (1.0, 1.0), origin=(0.0, 0.0), direction=(1.0, 0.0, 0.0, 1.0))
    direction = tuple(np.eye(3).ravel().tolist())
    return Image(array=array, spacing=spacing or (1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=direction,
                 is_volume=True)


def evaluate_arrays(cases: dict[str, tuple[np.ndarray, np.ndarray]], labels: dict[str, int] | None = None,
                    thresholds: tuple[float, float] = (0.01, 0.1), **options: object) -> dict:
    """metrics.json content for in-memory (reference, prediction) pairs, without any file."""
    classes = tuple(sorted(labels.values())) if labels else None
    case_options = CaseOptions(classes=classes, **options)  # type: ignore[arg-type]
    results = [measure_case(name, as_image(ref), as_image(pred), case_options)
               for name, (ref, pred) in sorted(cases.items())]
    found = classes or tuple(sorted({c for r in results for c in r.classes}))
    return build_metrics(results, found, {c: str(c) for c in found}, thresholds, case_options)


def write_pngs(folder: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write grey PNG masks named ``<stem>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        PILImage.fromarray(array.astype(np.uint8)).save(folder / f"{stem}.png")
    return folder
