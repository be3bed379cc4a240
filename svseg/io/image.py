"""The in-memory image: pixels plus the geometry needed to write a mask back exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Image:
    """Pixels and geometry of one file.

    ``array`` follows SimpleITK's index order: a volume is (z, y, x) and a 2D image (y, x);
    colour or multi-component images add a trailing channel axis, (y, x, c) or (z, y, x, c).
    ``spacing``, ``origin`` and ``direction`` are in SimpleITK's (x, y, z) order and units (mm);
    2D images read from PNG/TIFF/BMP have unit spacing, zero origin and identity direction.
    ``source`` is the file read; ``ending`` its format (``.nii.gz``, ``.png`` ...); ``palette``
    the PNG palette when a mask was stored as indexed colours.
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    source: Path | None = None
    ending: str = ""
    is_volume: bool = False
    palette: list[tuple[int, int, int]] | None = field(default=None, repr=False)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Shape without the channel axis: (z, y, x) or (y, x)."""
        dims = 3 if self.is_volume else 2
        return tuple(int(s) for s in self.array.shape[:dims])

    @property
    def num_channels(self) -> int:
        """1 for grey images, 3/4 for RGB(A), the component count for vector volumes."""
        dims = 3 if self.is_volume else 2
        return 1 if self.array.ndim == dims else int(self.array.shape[-1])

    def geometry_matches(self, other: Image, tolerance: float = 1e-4) -> list[str]:
        """Differences in size, spacing, origin and direction from `other`, as short phrases.

        Tolerances are relative for spacing and absolute (mm, or unitless for direction cosines)
        for origin and direction, scaled by the spacing so that rounding in file headers passes.
        """
        problems = []
        if self.spatial_shape != other.spatial_shape:
            problems.append(f"size {self.spatial_shape} vs {other.spatial_shape}")
            return problems
        spacing_a, spacing_b = np.asarray(self.spacing), np.asarray(other.spacing)
        if spacing_a.shape != spacing_b.shape or not np.allclose(spacing_a, spacing_b, rtol=tolerance, atol=1e-6):
            problems.append(f"spacing {_plain(spacing_a, 5)} vs {_plain(spacing_b, 5)}")
        scale = float(np.max(spacing_a)) if spacing_a.size else 1.0
        if not np.allclose(self.origin, other.origin, rtol=0, atol=max(tolerance * scale, 1e-3)):
            problems.append(f"origin {_plain(self.origin, 4)} vs {_plain(other.origin, 4)}")
        if not np.allclose(self.direction, other.direction, rtol=0, atol=1e-3):
            problems.append("direction cosines differ")
        return problems


def _plain(values: tuple[float, ...] | np.ndarray, decimals: int) -> str:
    """``(0.8, 0.8, 2.5)``: rounded plain numbers for messages (a tuple of numpy scalars prints np.float64(...))."""
    return "(" + ", ".join(str(round(float(v), decimals)) for v in values) + ")"
