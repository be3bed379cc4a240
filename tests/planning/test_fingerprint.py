"""The extended fingerprint through nnU-Net's own API, on PNG and NIfTI datasets with known objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor
from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset

from svseg.errors import SvsegError
from svseg.paths import export_nnunet_environment, preprocessed_root
from svseg.planning.fingerprint import AreaRatioFingerprintExtractor, classes_from_labels


def _extract(dataset_id: int, extractor: type = AreaRatioFingerprintExtractor, processes: int = 1,
             clean: bool = False) -> dict:
    export_nnunet_environment()
    return extract_fingerprint_dataset(dataset_id, extractor, num_processes=processes, clean=clean,
                                       verbose=False, show_progress_bar=False)


def test_png_fingerprint_counts_the_half_and_five_percent_objects(png_dataset: Path) -> None:
    fingerprint = _extract(1)
    assert len(fingerprint["spacings"]) == 4  # nnU-Net's own part is still there
    section = fingerprint["svseg"]
    assert section["slice_axis"] == 0 and section["classes"] == {"lesion": [1]}
    summary = section["summary"]
    assert (summary["cases"], summary["slices"], summary["slices_without_foreground"]) == (4, 4, 0)
    assert summary["all_classes"]["strata"] == {
        "ultra_small": {"objects": 4, "slices": 4},  # the 0.5 % rectangles
        "small": {"objects": 8, "slices": 4},  # plus the 5 % ones
        "all": {"objects": 8, "slices": 4},
    }
    lesion = summary["classes"]["lesion"]
    assert (lesion["area_px"]["min"], lesion["area_px"]["max"]) == (50, 500)
    assert (lesion["area_mm2"]["min"], lesion["area_mm2"]["max"]) == (50, 500)  # PNG: 1 mm per pixel
    assert lesion["area_ratio"]["min"] == pytest.approx(0.005)
    assert section["cases"]["case0"]["classes"]["lesion"]["strata"]["ultra_small"] == {"objects": 1, "slices": 1}
    fingerprint_file = preprocessed_root() / "Dataset001_Png" / "dataset_fingerprint.json"
    on_disk = json.loads(fingerprint_file.read_text(encoding="utf-8"))
    assert on_disk == fingerprint


def test_nifti_fingerprint_in_a_spawn_pool_has_mm2_areas(nifti_dataset: Path) -> None:
    summary = _extract(2, processes=2)["svseg"]["summary"]
    assert (summary["cases"], summary["slices"], summary["slices_without_foreground"]) == (3, 18, 12)
    nodule, lesion = summary["classes"]["nodule"], summary["classes"]["lesion"]
    assert nodule["area_mm2"]["p50"] == pytest.approx(16.0, rel=1e-6)  # 40 px x 0.8 x 0.5 mm
    assert lesion["area_mm2"]["p50"] == pytest.approx(160.0, rel=1e-6)  # 400 px
    assert nodule["strata"]["ultra_small"] == {"objects": 3, "slices": 3}
    assert lesion["strata"]["ultra_small"]["objects"] == 0 and lesion["strata"]["small"]["objects"] == 3
    assert summary["all_classes"]["strata"]["all"] == {"objects": 6, "slices": 6}


def test_slicing_axis_follows_the_dataset_not_the_first_case(nifti_dataset_with_spacings) -> None:
    # vol0 is coarsest along x, the two others (and so the median) along z: the pool measures
    # along vol0's axis while nnU-Net runs, then measures again along nnU-Net's axis
    nifti_dataset_with_spacings([(6.0, 0.8, 4.0), (0.5, 0.8, 4.0), (0.5, 0.8, 4.0)])
    section = _extract(2, processes=2)["svseg"]
    assert section["slice_axis"] == 0
    assert section["summary"]["slices"] == 18 and section["cases"]["vol0"]["slice_shape"] == [80, 100]


def test_reruns_reuse_what_is_current(png_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _extract(1, DatasetFingerprintExtractor)  # nnU-Net alone: no svseg key yet
    assert "svseg" not in first

    def fail(*args, **kwargs):
        raise AssertionError("nnU-Net's part was recomputed")

    monkeypatch.setattr(DatasetFingerprintExtractor, "run", fail)
    extended = _extract(1)  # only the svseg part is added
    assert extended["spacings"] == json.loads(json.dumps(first["spacings"]))
    assert _extract(1) == extended  # nothing to do

    other = AreaRatioFingerprintExtractor.configured({"ultra_small": 0.001, "small": 0.01})
    section = _extract(1, other)["svseg"]
    assert section["strata"] == {"ultra_small": 0.001, "small": 0.01}
    assert section["summary"]["all_classes"]["strata"]["small"]["objects"] == 4  # only the 0.5 % ones now


def test_corrupt_fingerprint_is_a_user_error(png_dataset: Path) -> None:
    path = preprocessed_root() / "Dataset001_Png" / "dataset_fingerprint.json"
    path.parent.mkdir(parents=True)
    path.write_text("{ not json")
    with pytest.raises(SvsegError, match=r"dataset_fingerprint\.json: fingerprint is not valid JSON"):
        _extract(1)


def test_background_ignore_and_regions() -> None:
    classes, allowed = classes_from_labels({"background": 0, "kidney": [1, 2], "tumour": 2, "ignore": 3})
    assert classes == {"kidney": [1, 2], "tumour": [2]}
    assert allowed == [0, 1, 2, 3]
