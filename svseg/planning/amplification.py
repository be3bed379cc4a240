"""STS-Net's "amplification" of small-lesion images, planned as sampling weights (peer-networks.md §2.5).

STS-Net's released code writes up to 16 copies of every small-lesion training image to disk
(flips and image-centred crops resized back), plus one lesion-centred crop. svseg plans the
same thing as data: per training unit (a 2D image, or a slice with foreground of a volume in
the 2d configuration) its foreground area ``a`` at the configuration's target spacing; on the
training fold ``S = sum a`` and ``A = count`` over units with ``a > 0``, and the paper's
thresholds ``N1 = ceil(sqrt(S / A))**2`` and ``N2 = ceil(sqrt(N1 / 2))**2``. Each unit gets a
tier (which copies apply) and a sampling weight ``1 + |copies| (+1 lesion crop when a > 5)``,
capped at ``max_weight``. The trainer (svseg/training/amplified_sampling.py) draws units with
probability proportional to the weight and applies one copy's geometry on the fly.

Modes:

- ``off``: nothing (the default of every preset);
- ``two-tier`` (our reconstruction of the paper): tier 1 ``N2 <= a < N1`` gets copies 1-7,
  tier 2 ``5 < a < N2`` copies 1-15, tier 0 (``a <= 5`` or ``a >= N1``) none;
- ``code`` (the released script): one tier ``5 < a < N1`` with all 15 copies (tier 2 here).

This module is pure numbers (no arrays): the copy table, thresholds, tiers, weights and the
plans section. Areas come from the fingerprint, never from labels read at training time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from svseg.errors import SvsegError

MODES: tuple[str, ...] = ("off", "code", "two-tier")
MIN_AREA = 5
"""Units with ``a <= MIN_AREA`` pixels are never amplified (the code's strict ``5 < a``)."""
DEFAULT_MAX_WEIGHT = 17
"""1 + 15 copies + the lesion crop: the largest weight the rules give, so no cap by default."""
CROP_HALF_SIZE: tuple[float, float] = (150 / 480, 160 / 480)
"""Lesion-centred crop: half-size per axis, uniform in this range times the side."""
AREA_UNIT = "foreground pixels (union of classes) per 2D unit at the 2d configuration's target spacing"


@dataclass(frozen=True)
class Copy:
    """One of the 15 copies of STS-Net's ``3_augu_labeled2.py``: a flip, then a crop resized back.

    Margins are fractions of the side (the script's pixels / 480): ``(top, bottom, left, right)``
    on the flipped image. ``flip_rows`` is the script's "V" (axis 0), ``flip_cols`` its "H".
    """

    copy_id: int
    flip_rows: bool
    flip_cols: bool
    margins: tuple[float, float, float, float]


def _copy(copy_id: int, flip: str, rows: int, cols: int) -> Copy:
    return Copy(copy_id, flip == "V", flip == "H", (rows / 480, rows / 480, cols / 480, cols / 480))


COPIES: dict[int, Copy] = {c.copy_id: c for c in (
    _copy(1, "V", 0, 0), _copy(2, "H", 0, 0),
    _copy(3, "", 50, 50), _copy(4, "H", 50, 50), _copy(5, "V", 50, 50),
    _copy(6, "V", 50, 0), _copy(7, "V", 0, 50),
    _copy(8, "", 75, 75), _copy(9, "H", 75, 75),
    _copy(10, "", 100, 100), _copy(11, "H", 100, 100),
    _copy(12, "", 125, 125), _copy(13, "H", 125, 125),
    _copy(14, "", 25, 25), _copy(15, "H", 25, 25),
)}
K1: tuple[int, ...] = tuple(range(1, 8))
K2: tuple[int, ...] = tuple(range(8, 16))


def check_mode(mode: str) -> str:
    """`mode` if it is one of :data:`MODES`, else a user error."""
    if mode not in MODES:
        raise SvsegError(f"--amplification {mode!r}: must be one of {', '.join(MODES)}")
    return mode


def copies_for_tier(tier: int) -> tuple[int, ...]:
    """Copy ids applied to a unit of this tier: none, K1, or K1 and K2."""
    return {0: (), 1: K1, 2: K1 + K2}[tier]


def lesion_crop_applies(area: float) -> bool:
    """The lesion-centred crop is for every unit with more than MIN_AREA pixels (no upper bound)."""
    return area > MIN_AREA


@dataclass(frozen=True)
class Thresholds:
    """The paper's statistics on one set of units: S, A, N1, N2 (all 0 when no unit has foreground)."""

    total_area: float
    units: int
    n1: int
    n2: int


def _ceil_sqrt(value: float) -> int:
    """ceil(sqrt(value)), exact for perfect squares despite floating point."""
    root = math.ceil(math.sqrt(value))
    while root > 0 and (root - 1) ** 2 >= value:
        root -= 1
    while root**2 < value:
        root += 1
    return root


def thresholds(areas: Iterable[float]) -> Thresholds:
    """S and A over units with a > 0, N1 = ceil(sqrt(S/A))**2, N2 = ceil(sqrt(N1/2))**2."""
    positive = [float(a) for a in areas if a > 0]
    if not positive:
        return Thresholds(0.0, 0, 0, 0)
    total = math.fsum(positive)
    n1 = _ceil_sqrt(total / len(positive)) ** 2
    return Thresholds(total, len(positive), n1, _ceil_sqrt(n1 / 2) ** 2)


def tier_of(area: float, mode: str, limits: Thresholds) -> int:
    """0 (none), 1 (copies 1-7) or 2 (copies 1-15) for a unit of `area` pixels."""
    if mode == "off" or area <= MIN_AREA or area >= limits.n1:
        return 0
    if mode == "code":
        return 2
    return 1 if area >= limits.n2 else 2


def weight_of(area: float, tier: int, mode: str, max_weight: int) -> int:
    """Sampling weight 1 + |copies| (+1 lesion crop), capped at `max_weight`; 1 when off."""
    if mode == "off":
        return 1
    return min(max_weight, 1 + len(copies_for_tier(tier)) + int(lesion_crop_applies(area)))


@dataclass(frozen=True)
class Unit:
    """One amplifiable unit of a case: its slice (0 for a 2D image), area, tier and weight."""

    slice_index: int
    area: float
    tier: int
    weight: int


@dataclass(frozen=True)
class FoldPlan:
    """Thresholds from one fold's training units, and every training case's units with foreground."""

    limits: Thresholds
    units: dict[str, list[Unit]]

    def case_weight(self, case_id: str) -> int:
        """The weight a case is drawn with: its largest unit weight (1 without foreground).

        For a 2D image this is the image's weight. A volume is drawn as a whole by nnU-Net's 2d
        loader, so it gets the weight of its most amplified slice (amplified_sampling.py).
        """
        return max((unit.weight for unit in self.units.get(case_id, ())), default=1)

    def tier_counts(self) -> list[int]:
        """How many units fall in tiers 0, 1, 2."""
        counts = [0, 0, 0]
        for units in self.units.values():
            for unit in units:
                counts[unit.tier] += 1
        return counts


def plan_fold(areas: Mapping[str, Mapping[int, float]], training: Sequence[str], mode: str,
              max_weight: int) -> FoldPlan:
    """Thresholds on the training cases only, then tiers and weights of their units.

    `areas` maps case id -> {slice index: area}; cases or slices absent have no foreground.
    Validation cases never enter S or A, so they cannot move N1 or N2.
    """
    check_mode(mode)
    chosen = [case for case in training if case in areas]
    limits = thresholds(a for case in chosen for a in areas[case].values())
    units = {}
    for case in chosen:
        rows = []
        for slice_index, area in sorted(areas[case].items()):
            if area <= 0:
                continue
            tier = tier_of(area, mode, limits)
            rows.append(Unit(int(slice_index), float(area), tier, weight_of(area, tier, mode, max_weight)))
        if rows:
            units[case] = rows
    return FoldPlan(limits, units)


def areas_at_target_spacing(cases: Mapping[str, Mapping[str, Any]], target_spacing: Sequence[float]
                            ) -> dict[str, dict[int, float]]:
    """Per case and slice, the fingerprint's native foreground pixels scaled to the target grid.

    Resampling to the target spacing multiplies a region's pixel count by the ratio of pixel
    areas (native / target); the count after nearest/linear resampling of a mask differs from
    this by boundary pixels only. Rounded to 0.01 px so the plans are stable across platforms.
    """
    target_area = float(target_spacing[-2]) * float(target_spacing[-1])
    result: dict[str, dict[int, float]] = {}
    for case_id, record in cases.items():
        spacing = record["pixel_spacing_mm"]
        scale = float(spacing[0]) * float(spacing[1]) / target_area
        foreground = record.get("foreground_px")
        if foreground is None:
            raise SvsegError(f"case {case_id}: the fingerprint has no per-slice foreground; re-run with --clean")
        result[case_id] = {int(s): round(float(px) * scale, 2)
                           for s, px in zip(foreground["slices"], foreground["px"], strict=True)}
    return result


def crossval_folds(case_ids: Sequence[str], splits: list[dict[str, list[str]]] | None) -> dict[str, list[str]]:
    """Training cases per fold: nnU-Net's splits_final.json when given, else nnU-Net's seeded 5 folds; plus 'all'.

    nnU-Net's trainer creates splits_final.json with the same function and seed on the sorted
    case ids, so folds planned here are the folds it will train. With fewer than 5 cases nnU-Net
    cannot make that split (its trainer fails the same way), so only 'all' is planned; the trainer
    computes any other split from the areas.
    """
    if splits is None:
        from nnunetv2.utilities.crossval_split import generate_crossval_split

        splits = generate_crossval_split(sorted(case_ids), seed=12345, n_splits=5) if len(case_ids) >= 5 else []
    folds = {str(index): sorted(split["train"]) for index, split in enumerate(splits)}
    folds["all"] = sorted(case_ids)
    return folds


def plan_section(mode: str, areas: Mapping[str, Mapping[int, float]], folds: Mapping[str, Sequence[str]],
                 max_weight: int = DEFAULT_MAX_WEIGHT) -> dict[str, Any]:
    """The plans' ``svseg.amplification`` section: areas per unit and each fold's N1, N2, tiers, weights."""
    check_mode(mode)
    if mode == "off":
        return {"mode": "off"}
    section: dict[str, Any] = {
        "mode": mode,
        "max_weight": int(max_weight),
        "min_area": MIN_AREA,
        "area_unit": AREA_UNIT,
        "areas": {case: {"slices": sorted(found), "px": [found[s] for s in sorted(found)]}
                  for case, found in sorted(areas.items()) if found},
        "folds": {},
    }
    for name, training in folds.items():
        plan = plan_fold(areas, training, mode, max_weight)
        section["folds"][name] = {
            "training": list(training),
            "S": round(plan.limits.total_area, 2), "A": plan.limits.units, "N1": plan.limits.n1, "N2": plan.limits.n2,
            "tier_counts": plan.tier_counts(),
            "tiers": {case: [u.tier for u in units] for case, units in plan.units.items()},
            "weights": {case: [u.weight for u in units] for case, units in plan.units.items()},
        }
    return section
