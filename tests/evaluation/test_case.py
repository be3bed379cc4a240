"""One case in memory: slicing a volume, the ignore label, and the per-slice columns."""

from __future__ import annotations

import numpy as np

from svseg.evaluation.case import CaseOptions, measure_case

from .examples import as_image


def test_volume_slices_objects_and_ignore_label() -> None:
    ref = np.zeros((4, 10, 10), np.uint8)
    pred = np.zeros_like(ref)
    ref[1, 2:4, 2:4] = 1
    pred[1, 2:4, 2:5] = 1
    ref[2, 5:10, 5:10] = 9  # ignored region
    pred[2, 6:8, 6:8] = 1  # predicted inside it: not a false positive, not an object
    result = measure_case("v", as_image(ref, (1.0, 1.0, 4.0)), as_image(pred, (1.0, 1.0, 4.0)),
                          CaseOptions(classes=(1,), ignore_label=9))
    assert result.slice_axis == 0 and result.n_valid_voxels == 400 - 25
    assert result.slices["slice"].tolist() == [0, 1, 2, 3]
    assert result.slices["n_valid"].tolist() == [100, 100, 75, 100]
    assert result.slices["r_img"].tolist() == [0.0, 0.04, 0.0, 0.0]
    counts = result.per_class[1].counts
    assert counts[1].tolist() == [4, 2, 0, 94] and counts[2].tolist() == [0, 0, 0, 75]
    assert result.per_class[1].pred_objects["slice"].tolist() == [1]
    assert result.per_class[1].volume["tp"] == 4 and result.per_class[1].volume["fp"] == 2


def test_classes_found_in_the_case() -> None:
    ref, pred = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    ref[0, 0], pred[1, 1] = 2, 5
    result = measure_case("c", as_image(ref), as_image(pred), CaseOptions())
    assert result.classes == (2, 5) and not result.is_volume and result.slice_axis is None
