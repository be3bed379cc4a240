"""Objects per slice: hand-made stacks, a per-slice scipy reference, and real files through nnU-Net's readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO
from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
from PIL import Image
from scipy import ndimage

from svseg.errors import SvsegError
from svseg.planning.area_ratio import foreground_slices, measure_case, objects_per_slice


def test_diagonal_neighbours_are_one_object_and_slices_are_separate() -> None:
    seg = np.zeros((3, 6, 6), np.uint8)
    seg[0, 1, 1] = seg[0, 2, 2] = 1  # touching by a corner: one object (8-connectivity)
    seg[1, 1:3, 1:3] = 1  # same x/y as slice 0's object but another slice: a second object
    seg[1, 4, 4] = 1
    found = objects_per_slice(seg, {"a": [1]})["a"]
    assert found.area_px.tolist() == [2, 4, 1]
    assert found.slice_index.tolist() == [0, 1, 1]
    assert foreground_slices({"a": found}, 3).tolist() == [True, True, False]


def test_regions_merge_values_and_unlisted_values_are_no_objects() -> None:
    seg = np.zeros((1, 5, 8), np.uint8)
    seg[0, 1, 1:3] = 1
    seg[0, 1, 3:5] = 2  # touches the 1s: one object of the region {1, 2}
    seg[0, 3, 6] = 3  # e.g. an ignore label: never an object
    found = objects_per_slice(seg, {"region": [1, 2], "two": [2]})
    assert found["region"].area_px.tolist() == [4]
    assert found["two"].area_px.tolist() == [2]
    assert found["region"].area_ratio(40).tolist() == [0.1]


def test_matches_a_slice_by_slice_scipy_reference() -> None:
    rng = np.random.default_rng(3)
    seg = (rng.random((7, 40, 50)) > 0.8).astype(np.uint8) * rng.integers(1, 3, (7, 40, 50)).astype(np.uint8)
    found = objects_per_slice(seg, {"one": [1], "two": [2]})
    for name, value in (("one", 1), ("two", 2)):
        expected_area, expected_slice = [], []
        for index, plane in enumerate(seg):
            labels, count = ndimage.label(plane == value, structure=np.ones((3, 3)))
            expected_area += np.bincount(labels.ravel(), minlength=count + 1)[1:].tolist()
            expected_slice += [index] * count
        assert found[name].area_px.tolist() == expected_area
        assert found[name].slice_index.tolist() == expected_slice


def test_png_is_one_slice_with_exact_ratios(png_dataset: Path) -> None:
    case = measure_case("case0", str(png_dataset / "labelsTr" / "case0.png"), NaturalImage2DIO, {"lesion": [1]}, [0, 1],
                        [0, 1, 2])
    assert (case.n_slices, case.slice_shape, case.slice_pixels) == (1, (100, 100), 10_000)
    assert case.pixel_spacing_mm == (1.0, 1.0)
    lesion = case.objects["lesion"]
    assert sorted(lesion.area_px.tolist()) == [50, 500]
    assert sorted(lesion.area_ratio(case.slice_pixels).tolist()) == [0.005, 0.05]


def test_volume_is_cut_along_the_first_transposed_axis_with_mm2_areas(nifti_dataset: Path) -> None:
    label_file = str(nifti_dataset / "labelsTr" / "vol0.nii.gz")
    classes = {"nodule": [1], "lesion": [2]}
    case = measure_case("vol0", label_file, SimpleITKIO, classes, [0, 1, 2], [0, 1, 2])
    assert (case.n_slices, case.slice_shape) == (6, (80, 100))
    assert case.pixel_spacing_mm == pytest.approx((0.8, 0.5))
    assert case.objects["nodule"].area_px.tolist() == [40] and case.objects["nodule"].slice_index.tolist() == [2]
    assert case.objects["lesion"].area_px.tolist() == [400] and case.objects["lesion"].slice_index.tolist() == [3]
    assert case.objects["nodule"].area_px[0] * case.pixel_area_mm2 == pytest.approx(16.0)  # 40 px x 0.4 mm²
    assert case.objects["lesion"].area_ratio(case.slice_pixels).tolist() == [0.05]
    assert case.foreground.tolist() == [False, False, True, True, False, False]

    along_x = measure_case("vol0", label_file, SimpleITKIO, classes, [0, 1, 2], [2, 0, 1])
    assert (along_x.n_slices, along_x.slice_shape) == (100, (6, 80))
    assert along_x.pixel_spacing_mm == pytest.approx((4.0, 0.8))
    assert along_x.objects["lesion"].count == 20  # the 20 x 20 square seen from the side: 20 columns


def test_unexpected_label_values_name_the_file(tmp_path: Path) -> None:
    mask = np.zeros((20, 20), np.uint8)
    mask[5:8, 5:8] = 255
    path = tmp_path / "mask.png"
    Image.fromarray(mask).save(path)
    with pytest.raises(SvsegError, match=r"mask\.png: unexpected label value\(s\) 255"):
        measure_case("mask", str(path), NaturalImage2DIO, {"fg": [1]}, [0, 1], [0, 1, 2])
