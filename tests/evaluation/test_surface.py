"""HD95 against two independent references: brute-force pairwise distances and scipy's EDT."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist

from svseg.evaluation.surface import hd95


def brute_force_hd95(a: np.ndarray, b: np.ndarray, spacing: tuple[float, ...]) -> float:
    """Surfaces by 1-connected erosion (zero border), all pairwise distances, pooled 95th percentile."""
    structure = ndimage.generate_binary_structure(a.ndim, 1)
    points = []
    for mask in (a, b):
        surface = mask & ~ndimage.binary_erosion(mask, structure=structure)
        points.append(np.argwhere(surface) * np.asarray(spacing))
    distances = cdist(points[0], points[1])
    return float(np.percentile(np.concatenate([distances.min(axis=1), distances.min(axis=0)]), 95))


def edt_hd95(a: np.ndarray, b: np.ndarray, spacing: tuple[float, ...]) -> float:
    """The same definition through scipy's distance transform of each surface (medpy's way)."""
    structure = ndimage.generate_binary_structure(a.ndim, 1)
    sa, sb = (m & ~ndimage.binary_erosion(m, structure=structure) for m in (a, b))
    to_b = ndimage.distance_transform_edt(~sb, sampling=spacing)[sa]
    to_a = ndimage.distance_transform_edt(~sa, sampling=spacing)[sb]
    return float(np.percentile(np.concatenate([to_b, to_a]), 95))


@pytest.mark.parametrize("seed", range(5))
def test_hd95_matches_brute_force_2d_anisotropic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = ndimage.binary_dilation(rng.random((48, 40)) > 0.985, iterations=2)
    b = ndimage.binary_dilation(rng.random((48, 40)) > 0.985, iterations=1)
    assert hd95(a, b, (1.5, 0.7)) == pytest.approx(brute_force_hd95(a, b, (1.5, 0.7)), rel=1e-12)
    assert hd95(a, b, (1.5, 0.7)) == pytest.approx(edt_hd95(a, b, (1.5, 0.7)), rel=1e-12)


def test_hd95_matches_brute_force_3d_and_objects_on_the_border() -> None:
    rng = np.random.default_rng(11)
    a = ndimage.binary_dilation(rng.random((8, 20, 20)) > 0.99, iterations=1)
    a[0, 0:4, 0:4] = True  # touches the array border: border pixels are surface
    b = np.roll(a, 2, axis=2)
    spacing = (3.0, 0.8, 0.8)
    assert hd95(a, b, spacing) == pytest.approx(brute_force_hd95(a, b, spacing), rel=1e-12)
    assert hd95(a, b, spacing) == pytest.approx(edt_hd95(a, b, spacing), rel=1e-12)


def test_hd95_simple_shift_and_empty_cases() -> None:
    a = np.zeros((20, 20), bool)
    a[5:10, 5:10] = True
    assert hd95(a, a, (1.0, 1.0)) == 0.0
    assert hd95(a, np.roll(a, 3, axis=0), (2.0, 1.0)) == pytest.approx(6.0)
    assert np.isnan(hd95(a, np.zeros_like(a), (1.0, 1.0)))
    assert np.isnan(hd95(np.zeros_like(a), np.zeros_like(a), (1.0, 1.0)))
