"""Components per slice, area ratios and strata (B3)."""

from __future__ import annotations

import numpy as np

from svseg.objects import (
    FULL_26,
    kept_slices,
    label_components,
    largest_cross_section,
    max_ratio_per_slice,
    strata_masks,
)


def test_objects_are_8_connected_within_a_slice_and_never_across() -> None:
    mask = np.zeros((3, 6, 6), bool)
    mask[0, 1, 1] = mask[0, 2, 2] = True  # diagonal neighbours: one object
    mask[1, 1, 1] = True  # same place, next slice: another object
    mask[2, 4, 4] = mask[2, 4, 5] = True
    components = label_components(mask)
    assert components.count == 3
    assert components.area.tolist() == [2, 1, 2] and components.slice_index.tolist() == [0, 1, 2]


def test_strata_are_strict_and_cumulative() -> None:
    masks = strata_masks(np.array([0.0, 0.005, 0.01, 0.05, 0.1, 0.5]), (0.01, 0.1))
    assert masks["ultra_small"].tolist() == [True, True, False, False, False, False]
    assert masks["small"].tolist() == [True, True, True, True, False, False]
    assert masks["all"].all()


def test_image_ratio_is_the_largest_object_per_slice() -> None:
    mask = np.zeros((2, 10, 10), bool)
    mask[0, 0:2, 0:2] = True
    mask[0, 5:9, 5:9] = True
    components = label_components(mask)
    assert max_ratio_per_slice(components, 2, 100).tolist() == [0.16, 0.0]


def test_largest_cross_section_of_3d_components() -> None:
    mask = np.zeros((4, 10, 10), bool)
    mask[0, 0:2, 0:2] = True
    mask[1, 1:5, 1:5] = True  # overlaps slice 0: the same 26-connected lesion
    mask[3, 8, 8] = True
    components = label_components(mask, FULL_26)
    assert components.count == 2
    assert largest_cross_section(components.labels, components.count).tolist() == [16, 1]


def test_kept_slices() -> None:
    assert kept_slices(10, 1).tolist() == list(range(10))
    assert kept_slices(10, 4).tolist() == [0, 4, 8, 9]
    assert kept_slices(9, 4).tolist() == [0, 4, 8]
