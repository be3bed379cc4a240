"""Forms f and g: CT as NIfTI volumes with flipped, tilted axes, and as a DICOM series folder per patient.

The module walks all five commands on form f (int16 HU, 0.7 x 0.7 x 2.5 mm, a direction that is
neither identity nor axis-aligned). Form g's import must give the same kind of dataset (one ``CT``
channel from the Modality tag, ``.nii.gz``, labels 0/1), so its new DICOM series are predicted
with form f's model. Masks must lie on each scan's exact grid (size, spacing, origin,
direction, read with SimpleITK) and on that of the user's own mask of the case.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Trained, data_root, use_root
from .userdata import write_ct_form, write_dicom_form
from .walk import (
    as_labels,
    assert_same_raw_dataset,
    check_good_prediction,
    check_masks_3d,
    check_metrics,
    predict_and_evaluate,
    raw_dataset,
    svseg,
    walk,
)

CT_IMPORT = ("--labels", "background,lesion", "--channel-names", "CT")


@pytest.fixture(scope="module")
def nifti_ct(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("ct")
    with data_root(root / "svseg_data") as home:
        folders = write_ct_form(root / "nifti")
        return Trained(home, folders, walk(folders, "LiverCT", import_args=CT_IMPORT))


@pytest.fixture(autouse=True)
def _module_root(nifti_ct: Trained, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test here works in the data root holding the module's model."""
    return use_root(nifti_ct, monkeypatch)


def test_nifti_ct_with_tilted_axes(nifti_ct: Trained) -> None:
    """Form f: all five commands; masks on the tilted grid."""
    folders, masks = nifti_ct.folders, nifti_ct.folders.root / "masks"
    dataset = json.loads((raw_dataset(nifti_ct.home, "LiverCT") / "dataset.json").read_text(encoding="utf-8"))
    assert dataset["channel_names"] == {"0": "CT"}
    check_masks_3d(folders, masks, {0, 1})
    check_metrics(folders, masks, [1], as_labels)
    check_good_prediction(folders, masks, "LiverCT", [1], as_labels)


def test_dicom_series_with_nifti_masks(nifti_ct: Trained, tmp_path: Path) -> None:
    """Form g: series folders import as CT; masks come back as ``patientNN.nii.gz`` on each series' grid."""
    home = nifti_ct.home
    folders = write_dicom_form(tmp_path / "dicom")
    svseg("import", "-i", folders.train, "-n", "DicomCT", "--labels", "background,lesion")
    assert_same_raw_dataset(home, "DicomCT", "LiverCT", pixels=False)  # CT from the Modality tag, no option
    masks = predict_and_evaluate(nifti_ct.run, folders, tmp_path / "masks")
    check_masks_3d(folders, masks, {0, 1})
    check_metrics(folders, masks, [1], as_labels)
    check_good_prediction(folders, masks, "DicomCT", [1], as_labels)
