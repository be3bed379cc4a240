"""The read-everything-first scan and the cross-case consistency checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from svseg.datasets.pairing import CaseSource
from svseg.datasets.problems import ProblemList
from svseg.datasets.scan import check_consistency, dataset_ending, scan_case, scan_cases

from .makers import disk_mask, noise_image, volume_mask, write_png, write_tiff, write_volume


def _case(tmp_path: Path, name: str, image: np.ndarray, mask: np.ndarray | None) -> CaseSource:
    write_png(tmp_path / "images" / f"{name}.png", image)
    if mask is None:
        return CaseSource(name, (tmp_path / "images" / f"{name}.png",), None, test=True)
    write_png(tmp_path / "labels" / f"{name}.png", mask)
    return CaseSource(name, (tmp_path / "images" / f"{name}.png",), tmp_path / "labels" / f"{name}.png")


def test_scan_records_what_the_import_needs(tmp_path: Path) -> None:
    problems = ProblemList()
    rgb = scan_case(_case(tmp_path, "a", noise_image((8, 9, 3), 1), disk_mask((8, 9), 255, 2, (4, 4))), problems, None)
    assert not problems and rgb.num_channels == 3 and rgb.rgb_8bit and not rgb.is_volume
    assert rgb.ending == ".png" and rgb.label_values.tolist() == [0, 255]
    unlabelled = scan_case(_case(tmp_path, "b", noise_image((8, 9), 2), None), problems, None)
    assert unlabelled.label_values is None and unlabelled.num_channels == 1


def test_float_tiff_needs_tif_output(tmp_path: Path) -> None:
    write_tiff(tmp_path / "f.tif", noise_image((6, 6), 1).astype(np.float32))
    write_png(tmp_path / "f_mask.png", disk_mask((6, 6), 1, 1, (3, 3)))
    scanned = scan_cases([CaseSource("f", (tmp_path / "f.tif",), tmp_path / "f_mask.png")], ProblemList(), None)
    assert scanned[0].ending == ".tif" and dataset_ending(scanned) == ".tif"


def test_volume_label_geometry_is_checked(tmp_path: Path) -> None:
    write_volume(tmp_path / "v.nii.gz", noise_image((3, 6, 6), 1, dtype=np.int16))
    write_volume(tmp_path / "m.nii.gz", volume_mask((3, 6, 6)), origin=(0.0, 0.0, 0.0))
    problems = ProblemList()
    assert scan_case(CaseSource("v", (tmp_path / "v.nii.gz",), tmp_path / "m.nii.gz"), problems, None) is None
    assert "m.nii.gz: does not match image v.nii.gz: origin" in str(problems.items[0])


def test_odd_cases_are_reported_against_the_majority(tmp_path: Path) -> None:
    cases = [_case(tmp_path, f"c{i}", noise_image((8, 8, 3), i), disk_mask((8, 8), 1, 2, (4, 4))) for i in range(3)]
    cases.append(_case(tmp_path, "grey", noise_image((8, 8), 5), disk_mask((8, 8), 1, 2, (4, 4))))
    problems = ProblemList()
    check_consistency(scan_cases(cases, problems, None), problems)
    [problem] = problems.items
    assert problem.path.name == "grey.png" and "1 channel(s) but 3 other case(s) are 3 channel(s)" in problem.message
