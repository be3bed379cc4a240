"""The suite's own references on hand-worked cases, so that agreeing with them means something."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from .checks import Picture, assert_same_geometry, eroded, image_dice, object_count, write_like
from .walk import binary


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array.astype(np.uint8)).save(path)


def test_image_dice_and_objects_by_hand(tmp_path: Path) -> None:
    ref, pred = np.zeros((4, 6), np.uint8), np.zeros((4, 6), np.uint8)
    ref[0, 0:2] = 255      # object 1: 2 px, predicted 1 of them
    ref[3, 3:6] = 255      # object 2: 3 px, missed
    pred[0, 1] = 1
    pred[2, 0] = 1         # 1 false-positive px
    _png(tmp_path / "ref" / "a.png", ref)
    _png(tmp_path / "pred" / "a.png", pred)
    _png(tmp_path / "ref" / "b.png", np.zeros((4, 6)))  # empty in both: undefined, skipped
    _png(tmp_path / "pred" / "b.png", np.zeros((4, 6)))
    # a: TP 1, FP 1, FN 4 -> 2 / (2 + 1 + 4)
    assert image_dice(tmp_path / "pred", tmp_path / "ref", [1], binary) == pytest.approx(2 / 7)
    assert object_count(tmp_path / "ref", [1], binary) == 2


def test_ignore_pixels_leave_both_masks(tmp_path: Path) -> None:
    ref = np.array([[1, 1, 255, 255], [2, 0, 255, 255]], np.uint8)
    pred = np.array([[1, 0, 1, 2], [2, 2, 2, 1]], np.uint8)
    _png(tmp_path / "ref" / "a.png", ref)
    _png(tmp_path / "pred" / "a.png", pred)
    # class 1: TP 1, FN 1 -> 2/3; class 2: TP 1, FP 1 -> 2/3 (predictions under 255 do not count)
    assert image_dice(tmp_path / "pred", tmp_path / "ref", [1, 2], lambda v: v, ignore=255) == pytest.approx(2 / 3)


def test_volumes_are_cut_along_the_coarsest_axis(tmp_path: Path) -> None:
    import SimpleITK as sitk

    ref = np.zeros((3, 4, 4), np.uint8)
    ref[0, 1:3, 1:3] = 1          # slice 0: 4 px, predicted exactly
    ref[2, 0, 0] = 1              # slice 2: 1 px, missed
    pred = ref.copy()
    pred[2] = 0
    for folder, array in (("ref", ref), ("pred", pred)):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((0.7, 0.7, 2.5))
        (tmp_path / folder).mkdir()
        sitk.WriteImage(image, str(tmp_path / folder / "v.nii.gz"))
    # slices along z: Dice 1 and 0 (slice 1 empty in both, skipped) -> 0.5
    assert image_dice(tmp_path / "pred", tmp_path / "ref", [1], lambda v: v) == pytest.approx(0.5)


def test_stand_in_prediction_keeps_the_masks_geometry(tmp_path: Path) -> None:
    import SimpleITK as sitk

    classes = np.zeros((2, 8, 8), np.uint8)
    classes[:, 2:7, 2:7] = 1
    written = sitk.GetImageFromArray(classes)
    written.SetSpacing((0.7, 0.7, 2.5))
    written.SetOrigin((1.0, 2.0, 3.0))
    written.SetDirection((0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(written, str(tmp_path / "mask.nii.gz"))
    shrunk = eroded(classes)
    assert shrunk.sum() == 2 * 9  # the 5 x 5 square loses its rim in each slice, never whole slices
    target = write_like(tmp_path / "mask.nii.gz", tmp_path / "good" / "mask.nii.gz", shrunk)
    copy = sitk.ReadImage(str(target))
    assert copy.GetDirection() == pytest.approx(written.GetDirection())
    assert copy.GetOrigin() == pytest.approx(written.GetOrigin())


def test_geometry_check_refuses_another_direction() -> None:
    tilted = Picture(np.zeros((2, 3, 4)), (0.7, 0.7, 2.5), (0.0, 0.0, 0.0), (0.0, 1.0, 0, 1.0, 0, 0, 0, 0, 1.0))
    upright = Picture(np.zeros((2, 3, 4)), (0.7, 0.7, 2.5), (0.0, 0.0, 0.0), (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    with pytest.raises(AssertionError, match="direction"):
        assert_same_geometry(upright, tilted, "mask")
