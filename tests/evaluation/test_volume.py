"""3D NIfTI folders: the volume block against nnU-Net, slicing axis, per-slice objects, 3D lesions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from svseg.evaluation import evaluate_folders
from svseg.objects import choose_slice_axis

SPACING_XYZ = (0.8, 0.8, 3.0)  # thick slices: the slicing axis is z, array axis 0


def write_nifti(folder: Path, stem: str, array: np.ndarray, spacing: tuple[float, ...] = SPACING_XYZ) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(folder / f"{stem}.nii.gz"))


def volume_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    cases = {}
    for i in range(4):
        ref = np.zeros((6, 40, 40), np.uint8)
        pred = np.zeros_like(ref)
        ref[1:4, 10:20, 10:20] = 1  # one 3D organ-like object over 3 slices
        pred[1:5, 11:21, 10:20] = 1
        ref[2, 30:32, 30:32] = 2  # a 4-px lesion (0.25 % of the slice)
        if i % 2:
            pred[2, 30:32, 30:31] = 2
        if i == 3:
            ref[:] = 0  # an empty volume with a false positive
            pred[0, 0:3, 0:3] = 2
        pred[rng.integers(0, 6), 35:37, 1:3] = 1
        cases[f"vol_{i}"] = (ref, pred)
    return cases


@pytest.fixture(scope="module")
def volume_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("volumes")
    for stem, (ref, pred) in volume_cases().items():
        write_nifti(root / "gt", stem, ref)
        write_nifti(root / "pred", stem, pred)
    return root / "pred", root / "gt"


@pytest.fixture(scope="module")
def volume_metrics(volume_folders: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    pred, gt = volume_folders
    out = tmp_path_factory.mktemp("out")
    return evaluate_folders(pred, gt, out, labels={"organ": 1, "lesion": 2}, num_workers=1, plots=False).metrics


def test_volume_block_equals_nnunet(volume_folders: tuple[Path, Path], volume_metrics: dict, tmp_path: Path) -> None:
    """Part D, test 2 on 3D: the volume block equals compute_metrics_on_folder_simple exactly."""
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder_simple

    pred, gt = volume_folders
    summary = tmp_path / "summary.json"
    compute_metrics_on_folder_simple(str(gt), str(pred), [1, 2], str(summary), num_processes=1)
    nnunet = json.loads(summary.read_text(encoding="utf-8"))
    volume = volume_metrics["volume"]
    assert volume["n_volumes"] == 4
    for label in ("1", "2"):
        for theirs, ours in (("Dice", "dice"), ("IoU", "iou"), ("TP", "tp"), ("FP", "fp"), ("FN", "fn"),
                             ("TN", "tn"), ("n_ref", "n_ref"), ("n_pred", "n_pred")):
            assert volume["mean"][label][ours] == nnunet["mean"][label][theirs], (label, theirs)
    assert volume["foreground_mean"]["dice"] == nnunet["foreground_mean"]["Dice"]
    per_case = {c["case"]: c["metrics"] for c in volume["cases"]}
    for case in nnunet["metric_per_case"]:
        stem = Path(case["reference_file"]).name.removesuffix(".nii.gz")
        assert per_case[stem]["1"]["dice"] == case["metrics"]["1"]["Dice"]


def test_volumes_are_sliced_along_the_thick_axis(volume_metrics: dict) -> None:
    assert volume_metrics["settings"]["slice_axis"] == 0
    assert len(volume_metrics["slices"]) == 4 * 6  # every slice, empty ones included
    organs = [o for o in volume_metrics["objects"] if o["class"] == 1]
    assert len(organs) == 3 * 3  # 3 volumes with an organ over 3 slices: one object per slice
    assert all(o["ratio"] == pytest.approx(100 / 1600) for o in organs)
    lesions = volume_metrics["object"]["ultra_small"]["per_class"]["2"]
    assert lesions["n_objects"] == 3 and lesions["detection"]["overlap"]["n_ref_detected"] == 1
    assert volume_metrics["image"]["empty"]["n_slices"] == 24 - 9


def test_3d_lesions_are_26_connected_and_stratified_by_largest_cross_section(volume_metrics: dict) -> None:
    detection = volume_metrics["volume"]["detection"]
    # per volume: one organ (largest cross-section 100/1600 = 6.25 %: small) and one lesion (0.25 %)
    assert detection["all"]["overlap"]["n_ref"] == 3 + 3
    assert detection["small"]["overlap"]["n_ref"] == 6 and detection["ultra_small"]["overlap"]["n_ref"] == 3
    assert detection["ultra_small"]["overlap"]["n_ref_detected"] == 1
    assert detection["ultra_small"]["iou50"]["n_ref_detected"] == 0  # half the lesion: IoU 0.5, not > 0.5


def test_volume_hd95_uses_the_anisotropic_spacing(volume_metrics: dict) -> None:
    case = next(c for c in volume_metrics["volume"]["cases"] if c["case"] == "vol_0")
    # the organ prediction reaches one slice further (3 mm) and one row further (0.8 mm)
    assert case["metrics"]["1"]["hd95"] == pytest.approx(3.0, abs=0.5)


def test_slice_step_keeps_every_kth_slice_and_the_last(volume_folders: tuple[Path, Path], tmp_path: Path) -> None:
    pred, gt = volume_folders
    metrics = evaluate_folders(pred, gt, tmp_path / "o", num_workers=1, slice_step=4, plots=False).metrics
    assert sorted({s["slice"] for s in metrics["slices"]}) == [0, 4, 5]
    assert metrics["volume"]["n_volumes"] == 4  # the volume block always uses whole volumes


def test_choose_slice_axis() -> None:
    assert choose_slice_axis((10, 50, 50), (3.0, 0.8, 0.8), None) == 0
    assert choose_slice_axis((50, 10, 50), (0.8, 3.0, 0.8), None) == 1
    assert choose_slice_axis((10, 10, 10), (1.0, 1.0, 1.0), None) == 0  # a tie goes to axis 0
    assert choose_slice_axis((1, 64, 64), (1.0, 1.5, 1.5), None) == 0  # a one-slice volume
    assert choose_slice_axis((10, 50, 50), (3.0, 0.8, 0.8), 2) == 2  # the plans' transpose_forward[0]


def test_other_slicing_axis_moves_objects(tmp_path: Path) -> None:
    ref = np.zeros((20, 6, 20), np.uint8)
    ref[5:8, 2, 5:8] = 1
    write_nifti(tmp_path / "gt", "a", ref, spacing=(0.8, 3.0, 0.8))
    write_nifti(tmp_path / "pred", "a", ref, spacing=(0.8, 3.0, 0.8))
    metrics = evaluate_folders(tmp_path / "pred", tmp_path / "gt", tmp_path / "o", num_workers=1, plots=False).metrics
    assert metrics["settings"]["slice_axis"] == 1
    assert [(o["slice"], o["area_px"]) for o in metrics["objects"]] == [(2, 9)]
    assert metrics["objects"][0]["ratio"] == pytest.approx(9 / 400)
