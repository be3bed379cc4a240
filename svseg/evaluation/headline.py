"""Stratified headline numbers read from an evaluation's metrics.json, and tables of them.

Why a module of its own, in evaluation (which owns the metrics.json layout): the demo prints one
model's numbers and ``svseg compare`` puts several models side by side; both must read exactly
the same keys of the evaluation protocol
(``metrics.json`` layout, docs/design/evaluation-protocol.md B11) so a number in the demo and in a comparison
means the same thing. The headline per stratum is the object-level Dice (each reference object
weighted 1), the lesion-wise detection F1 under the ``overlap`` rule, and the per-image Dice,
each with its 95 % case-bootstrap interval where the metrics.json holds one (``uncertainty``).
Values are fractions in [0, 1]; ``None`` is an undefined value (an empty stratum).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError
from svseg.objects import STRATA

STRATUM_TITLES = {"ultra_small": "ultra-small (< 1 %)", "small": "small (< 10 %)", "all": "all"}
Bounds = tuple[float, float] | None


@dataclass(frozen=True)
class StratumSummary:
    """The headline numbers of one stratum (cumulative: ultra_small within small within all)."""

    stratum: str
    n_objects: int
    object_dice: float | None
    detection_f1: float | None
    image_dice: float | None
    n_slices: int
    object_dice_ci: Bounds = None
    detection_f1_ci: Bounds = None
    image_dice_ci: Bounds = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return asdict(self)


def read_metrics(path: Path | str) -> dict[str, Any]:
    """Load a metrics.json written by ``svseg evaluate``; a missing or broken file is a user error."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SvsegError(f"{path}: no metrics file; run svseg evaluate first") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise SvsegError(f"{path}: not a readable metrics.json ({exc})") from None


def summarise_metrics(metrics: dict[str, Any]) -> list[StratumSummary]:
    """One :class:`StratumSummary` per stratum, from the ``object`` and ``image`` blocks."""
    summaries = []
    intervals = (metrics.get("uncertainty") or {}).get("strata", {})
    for stratum in STRATA:
        objects = metrics.get("object", {}).get(stratum, {})
        images = metrics.get("image", {}).get(stratum, {})
        detection = objects.get("detection", {}).get("overlap", {})
        bounds = {figure: _bounds(interval) for figure, interval in intervals.get(stratum, {}).items()}
        summaries.append(StratumSummary(
            stratum=stratum,
            n_objects=int(objects.get("n_objects") or 0),
            object_dice=_number(objects.get("dice")),
            detection_f1=_number(detection.get("f1")),
            image_dice=_number(images.get("dice")),
            n_slices=int(images.get("n_slices") or 0),
            object_dice_ci=bounds.get("object_dice"),
            detection_f1_ci=bounds.get("detection_f1"),
            image_dice_ci=bounds.get("image_dice"),
        ))
    return summaries


def metrics_markdown(summaries: list[StratumSummary]) -> str:
    """A markdown table of one model's stratified numbers (Dice and F1 as fractions, [95 % interval])."""
    lines = ["| stratum | objects | object Dice | detection F1 | slices | image Dice |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in summaries:
        lines.append(f"| {STRATUM_TITLES[row.stratum]} | {row.n_objects} | "
                     f"{format_value(row.object_dice, bounds=row.object_dice_ci)} | "
                     f"{format_value(row.detection_f1, bounds=row.detection_f1_ci)} | {row.n_slices} | "
                     f"{format_value(row.image_dice, bounds=row.image_dice_ci)} |")
    return "\n".join(lines) + "\n"


def format_value(value: float | None, digits: int = 3, bounds: Bounds = None) -> str:
    """A fraction with fixed digits, and its interval when given; undefined prints as an en dash, never as 0."""
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return text if bounds is None else f"{text} [{bounds[0]:.{digits}f}, {bounds[1]:.{digits}f}]"


def _bounds(interval: dict[str, Any] | None) -> Bounds:
    """(low, high) of a metrics.json interval, None where it has none."""
    if not interval or interval.get("low") is None or interval.get("high") is None:
        return None
    return float(interval["low"]), float(interval["high"])


def _number(value: Any) -> float | None:
    """JSON null and NaN both mean undefined."""
    if value is None:
        return None
    number = float(value)
    return None if number != number else number
