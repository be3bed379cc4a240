"""Reading the modality of a DICOM series."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from svseg.datasets.dicom import series_modality

from .makers import write_dicom_series


def test_modality_of_a_series_and_of_an_empty_folder(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "mr", np.zeros((2, 4, 4), np.int16), modality="MR")
    (tmp_path / "empty").mkdir()
    assert series_modality(tmp_path / "mr") == "MR"
    assert series_modality(tmp_path / "empty") is None
