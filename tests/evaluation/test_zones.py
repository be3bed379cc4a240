"""Voronoi zones and per-object counts (B6): every predicted pixel lands in exactly one zone."""

from __future__ import annotations

import numpy as np

from svseg.evaluation.zones import object_counts, zone_map
from svseg.objects import label_components

from .examples import example_3


def test_example_3_zone_sizes() -> None:
    ref, _ = example_3()
    components = label_components(ref[None] > 0)
    zones = zone_map(components.labels[0], (1.0, 1.0))
    assert np.bincount(zones.ravel()).tolist() == [0, 2072, 7928]


def test_zones_partition_the_slice_and_every_false_positive_counts_once() -> None:
    rng = np.random.default_rng(5)
    ref = rng.random((1, 60, 60)) > 0.995
    pred = rng.random((1, 60, 60)) > 0.9
    components = label_components(ref)
    counts = object_counts(components, pred, None, (1.0, 1.0), with_hd95=False)
    assert counts.zone_px.sum() == 3600
    assert counts.fp.sum() == int((pred & ~ref).sum()) and counts.tp.sum() == int((pred & ref).sum())
    assert (counts.tp + counts.fp + counts.fn + counts.tn == counts.zone_px).all()


def test_anisotropic_spacing_moves_the_zone_border() -> None:
    ref = np.zeros((1, 12, 12), bool)
    ref[0, 0, 0] = ref[0, 10, 10] = True
    pred = np.zeros_like(ref)
    pred[0, 0, 8] = True  # 8 columns from the first object; 10 rows and 2 columns from the second
    for spacing_yx, owner in (((1.0, 1.0), 0), ((0.1, 1.0), 1)):
        counts = object_counts(label_components(ref), pred, None, spacing_yx, with_hd95=False)
        assert counts.fp.tolist().index(1) == owner


def test_ignored_pixels_are_not_in_zone_sizes() -> None:
    ref = np.zeros((1, 10, 10), bool)
    ref[0, 2, 2] = True
    valid = np.ones_like(ref)
    valid[0, 5:, :] = False
    counts = object_counts(label_components(ref), np.zeros_like(ref), valid, (1.0, 1.0), with_hd95=False)
    assert counts.zone_px.tolist() == [50] and counts.tn.tolist() == [49]
