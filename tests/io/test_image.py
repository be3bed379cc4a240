"""Image.geometry_matches: differences are phrased with plain numbers (no numpy reprs in messages)."""

from __future__ import annotations

import numpy as np

from svseg.io.image import Image


def _volume(spacing: tuple[float, ...], origin: tuple[float, ...]) -> Image:
    return Image(array=np.zeros((4, 5, 6), np.uint8), spacing=spacing, origin=origin,
                 direction=tuple(np.eye(3).ravel().tolist()))


def test_spacing_and_origin_differences_print_plain_numbers() -> None:
    a = _volume((0.8, 0.8, 2.5), (0.0, -12.25, 30.123456))
    b = _volume(tuple(np.array([0.8, 0.8, 3.0])), tuple(np.array([1.0, 0.0, 0.0])))  # numpy scalars, as computed
    assert a.geometry_matches(b) == ["spacing (0.8, 0.8, 2.5) vs (0.8, 0.8, 3.0)",
                                     "origin (0.0, -12.25, 30.1235) vs (1.0, 0.0, 0.0)"]
    assert a.geometry_matches(a) == []
