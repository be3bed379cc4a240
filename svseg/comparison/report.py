"""The side-by-side comparison table, as markdown for people and JSON for scripts.

One column per architecture, one row per quantity: the stratified headline metrics (see
:mod:`svseg.comparison.table`), then cost: parameters, multiply-accumulates for one patch at
the plan's patch size, training time and inference speed in 2D slices per second. Speed is
the wall time of the whole ``train`` call (start-up and the fold's final validation included) and
of the prediction loop (model loading excluded), on the machine named in the JSON, so it compares
architectures run together and is not a benchmark of either on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svseg.comparison.table import STRATA, STRATUM_TITLES, StratumSummary, format_value
from svseg.utils.fs import atomic_write_json, atomic_write_text

TABLE_NAME = "comparison"


@dataclass(frozen=True)
class ArchitectureRow:
    """What one architecture scored and cost, trained and tested like the others."""

    arch: str
    parameters: int
    macs: int | None
    patch_size: tuple[int, ...]
    train_seconds: float
    epochs: int
    iters_per_epoch: int
    predict_seconds: float
    num_slices: int
    strata: tuple[StratumSummary, ...]
    model_dir: Path
    metrics_path: Path

    @property
    def slices_per_second(self) -> float | None:
        """Inference throughput over the predicted cases (None when nothing was timed)."""
        return self.num_slices / self.predict_seconds if self.predict_seconds > 0 else None

    def stratum(self, name: str) -> StratumSummary:
        """This row's summary of stratum ``name``."""
        return next(summary for summary in self.strata if summary.stratum == name)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, metrics keyed by stratum."""
        return {
            "arch": self.arch, "parameters": self.parameters, "macs": self.macs,
            "patch_size": list(self.patch_size), "train_seconds": round(self.train_seconds, 2),
            "epochs": self.epochs, "iters_per_epoch": self.iters_per_epoch,
            "predict_seconds": round(self.predict_seconds, 2), "num_slices": self.num_slices,
            "slices_per_second": _rounded(self.slices_per_second),
            "metrics": {summary.stratum: summary.to_json() for summary in self.strata},
            "model_dir": str(self.model_dir), "metrics_path": str(self.metrics_path),
        }


def comparison_markdown(rows: list[ArchitectureRow], context: dict[str, Any]) -> str:
    """A markdown table with one column per architecture, preceded by what was compared."""
    header = "| | " + " | ".join(f"`{row.arch}`" for row in rows) + " |"
    lines = [f"Dataset `{context.get('dataset')}`, fold {context.get('fold')}, "
             f"{context.get('num_cases')} test cases ({context.get('cases')}), device {context.get('device')}.",
             "", header, "|---|" + "---:|" * len(rows)]
    for stratum in STRATA:
        title = STRATUM_TITLES[stratum]
        first = rows[0].stratum(stratum) if rows else None
        count = f" (n={first.n_objects} objects)" if first else ""
        lines.append(_line(f"object Dice, {title}{count}",
                           [format_value(r.stratum(stratum).object_dice) for r in rows]))
        lines.append(_line(f"detection F1, {title}", [format_value(r.stratum(stratum).detection_f1) for r in rows]))
        lines.append(_line(f"image Dice, {title}", [format_value(r.stratum(stratum).image_dice) for r in rows]))
    lines.append(_line("parameters", [f"{row.parameters:,}" for row in rows]))
    lines.append(_line("MACs per patch", [f"{_giga(row.macs)} @ {'x'.join(map(str, row.patch_size))}"
                                          for row in rows]))
    lines.append(_line("training wall time", [f"{row.train_seconds:.0f} s ({row.epochs} x {row.iters_per_epoch} it)"
                                    for row in rows]))
    lines.append(_line("inference, slices/s", [format_value(row.slices_per_second, 2) for row in rows]))
    return "\n".join(lines) + "\n"


def write_comparison(out_dir: Path, rows: list[ArchitectureRow], context: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``comparison.md`` and ``comparison.json`` into ``out_dir`` (atomically)."""
    markdown_path, json_path = out_dir / f"{TABLE_NAME}.md", out_dir / f"{TABLE_NAME}.json"
    atomic_write_text(markdown_path, comparison_markdown(rows, context))
    atomic_write_json(json_path, {**context, "architectures": [row.to_json() for row in rows]})
    return markdown_path, json_path


def _line(label: str, cells: list[str]) -> str:
    return f"| {label} | " + " | ".join(cells) + " |"


def _giga(macs: int | None) -> str:
    return "–" if macs is None else f"{macs / 1e9:.2f} G"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
