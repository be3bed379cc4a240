"""The read-everything-first scan and the cross-case consistency checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from svseg.datasets.pairing import CaseSource
from svseg.datasets.problems import ProblemList
from svseg.datasets.scan import check_consistency, check_rule, dataset_ending, scan_case, scan_cases
from svseg.io.channel_rule import decide_rule

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
    [info] = rgb.sources
    assert not problems and info.channels == 3 and info.kind == "colour" and info.dtype == "uint8"
    assert not rgb.is_volume and rgb.label_values.tolist() == [0, 255]
    unlabelled = scan_case(_case(tmp_path, "b", noise_image((8, 9), 2), None), problems, None)
    assert unlabelled.label_values is None and unlabelled.sources[0].kind == "grey"
    rule = decide_rule([rgb.sources, unlabelled.sources])
    assert rule.colour == "rgb" and rule.num_channels == 3 and dataset_ending([rgb, unlabelled], rule) == ".png"


def test_float_tiff_needs_tif_output(tmp_path: Path) -> None:
    write_tiff(tmp_path / "f.tif", noise_image((6, 6), 1).astype(np.float32))
    write_png(tmp_path / "f_mask.png", disk_mask((6, 6), 1, 1, (3, 3)))
    scanned = scan_cases([CaseSource("f", (tmp_path / "f.tif",), tmp_path / "f_mask.png")], ProblemList(), None)
    assert dataset_ending(scanned, decide_rule([scanned[0].sources])) == ".tif"


def test_16_bit_grey_stays_png_but_16_bit_in_an_rgb_dataset_needs_tif(tmp_path: Path) -> None:
    grey16 = _case(tmp_path, "g", (noise_image((8, 8), 1).astype(np.uint16) * 200), disk_mask((8, 8), 1, 2, (4, 4)))
    colour = _case(tmp_path, "c", noise_image((8, 8, 3), 2), disk_mask((8, 8), 1, 2, (4, 4)))
    problems = ProblemList()
    grey_only = scan_cases([grey16], problems, None)
    assert dataset_ending(grey_only, decide_rule([grey_only[0].sources])) == ".png"
    mixed = scan_cases([grey16, colour], problems, None)
    assert dataset_ending(mixed, decide_rule([item.sources for item in mixed])) == ".tif" and not problems


def test_rgb_to_0_1_names_need_8_bit_pixels(tmp_path: Path) -> None:
    cases = []
    for i in range(2):
        write_tiff(tmp_path / f"c{i}.tif", noise_image((8, 8, 3), i).astype(np.uint16) * 100)
        write_png(tmp_path / f"c{i}_mask.png", disk_mask((8, 8), 1, 2, (4, 4)))
        cases.append(CaseSource(f"c{i}", (tmp_path / f"c{i}.tif",), tmp_path / f"c{i}_mask.png"))
    problems = ProblemList()
    scanned = scan_cases(cases, problems, None)
    rule = decide_rule([item.sources for item in scanned]).with_channel_names(["rgb_to_0_1"] * 3)
    check_rule(scanned, rule, problems)
    assert [p.path.name for p in problems.items] == ["c0.tif", "c1.tif"]
    assert "uint16 pixels, but rgb_to_0_1 normalisation (divide by 255) needs 8-bit images" in problems.items[0].message


def test_volume_label_geometry_is_checked(tmp_path: Path) -> None:
    write_volume(tmp_path / "v.nii.gz", noise_image((3, 6, 6), 1, dtype=np.int16))
    write_volume(tmp_path / "m.nii.gz", volume_mask((3, 6, 6)), origin=(0.0, 0.0, 0.0))
    problems = ProblemList()
    assert scan_case(CaseSource("v", (tmp_path / "v.nii.gz",), tmp_path / "m.nii.gz"), problems, None) is None
    assert "m.nii.gz: does not match image v.nii.gz: origin" in str(problems.items[0])


def test_odd_cases_are_reported_against_the_majority(tmp_path: Path) -> None:
    cases = []
    for i in range(3):
        write_volume(tmp_path / f"v{i}.nii.gz", noise_image((3, 6, 6), i, dtype=np.int16))
        cases.append(CaseSource(f"v{i}", (tmp_path / f"v{i}.nii.gz",), None, test=True))
    write_volume(tmp_path / "two.nrrd", noise_image((3, 6, 6, 2), 5, dtype=np.int16))
    cases.append(CaseSource("two", (tmp_path / "two.nrrd",), None, test=True))
    problems = ProblemList()
    scanned = scan_cases(cases, problems, None)
    check_consistency(scanned, decide_rule([item.sources for item in scanned]), problems)
    [problem] = problems.items
    assert problem.path.name == "two.nrrd" and "2 channel(s) but 3 other case(s) are 1 channel(s)" in problem.message


def test_grey_among_true_colour_images_is_one_rgb_dataset_not_a_problem(tmp_path: Path) -> None:
    cases = [_case(tmp_path, f"c{i}", noise_image((8, 8, 3), i), disk_mask((8, 8), 1, 2, (4, 4))) for i in range(3)]
    cases.append(_case(tmp_path, "grey", noise_image((8, 8), 5), disk_mask((8, 8), 1, 2, (4, 4))))
    problems = ProblemList()
    scanned = scan_cases(cases, problems, None)
    check_consistency(scanned, decide_rule([item.sources for item in scanned]), problems)
    assert not problems
