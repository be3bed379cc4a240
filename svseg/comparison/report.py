"""The side-by-side comparison table, as markdown for people and JSON for scripts.

One column per architecture, one row per quantity: the stratified headline metrics (see
:mod:`svseg.evaluation.headline`), then cost: parameters, multiply-accumulates for one patch at
the plan's patch size, training time and inference speed in 2D slices per second. Speed is
the wall time of the whole ``train`` call (start-up and the fold's final validation included) and
of the prediction loop (model loading excluded), on the machine named in the JSON, so it compares
architectures run together and is not a benchmark of either on its own.

Quality numbers carry their 95 % case-bootstrap interval, and every pair of architectures gets
paired intervals of the difference of each headline figure, drawn on the same resampled cases
(:func:`svseg.evaluation.uncertainty.paired_headline_difference`): a difference whose interval
excludes zero is marked, one whose interval holds zero is within the noise of these cases. The
table is written as ``comparison.md``, ``comparison.json`` and a self-contained ``comparison.html``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from svseg.evaluation.bootstrap import Interval
from svseg.evaluation.headline import STRATUM_TITLES, StratumSummary, format_value, read_metrics
from svseg.objects import STRATA
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


@dataclass(frozen=True)
class PairedDifference:
    """first - second for one headline figure of one stratum, with its paired 95 % interval."""

    first: str
    second: str
    stratum: str
    figure: str
    interval: Interval

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"first": self.first, "second": self.second, "stratum": self.stratum, "figure": self.figure,
                **self.interval.to_json(), "excludes_zero": self.interval.excludes_zero()}


def paired_differences(rows: list[ArchitectureRow]) -> list[PairedDifference]:
    """Every pair of rows (in table order), every stratum and headline figure, from their metrics.json."""
    from svseg.evaluation.uncertainty import HEADLINE, paired_headline_difference

    metrics = {row.arch: read_metrics(row.metrics_path) for row in rows}
    return [PairedDifference(a.arch, b.arch, stratum, figure,
                             paired_headline_difference(metrics[a.arch], metrics[b.arch], stratum, figure))
            for a, b in combinations(rows, 2) for stratum in STRATA for figure in HEADLINE]


def comparison_markdown(rows: list[ArchitectureRow], context: dict[str, Any],
                        differences: list[PairedDifference] | None = None) -> str:
    """A markdown table with one column per architecture, preceded by what was compared, then the paired
    differences (computed from the rows' metrics files unless given)."""
    differences = paired_differences(rows) if differences is None else differences
    header = "| | " + " | ".join(f"`{row.arch}`" for row in rows) + " |"
    lines = [_context_line(context), "", header, "|---|" + "---:|" * len(rows)]
    lines += [_line(label, cells) for label, cells in _table_rows(rows)]
    lines += ["", "Quality: estimate [95 % interval, bootstrap over the test cases]."]
    if differences:
        lines += ["", "Paired differences (first minus second, on the same resampled cases); "
                  "`*` marks a difference whose 95 % interval excludes zero:", "",
                  "| pair | stratum | object Dice | detection F1 | image Dice |", "|---|---|---:|---:|---:|"]
        for (first, second, stratum), cells in _difference_rows(differences):
            lines.append(f"| `{first}` - `{second}` | {STRATUM_TITLES[stratum]} | " + " | ".join(
                f"{_signed(d.interval)}{' *' if d.interval.excludes_zero() else ''}" for d in cells) + " |")
    return "\n".join(lines) + "\n"


def _context_line(context: dict[str, Any]) -> str:
    return (f"Dataset `{context.get('dataset')}`, fold {context.get('fold')}, "
            f"{context.get('num_cases')} test cases ({context.get('cases')}), device {context.get('device')}.")


def _table_rows(rows: list[ArchitectureRow]) -> list[tuple[str, list[str]]]:
    """(label, one cell per architecture) for the quality and cost rows."""
    table = []
    for stratum in STRATA:
        title = STRATUM_TITLES[stratum]
        first = rows[0].stratum(stratum) if rows else None
        count = f" (n={first.n_objects} objects)" if first else ""
        summaries = [r.stratum(stratum) for r in rows]
        table.append((f"object Dice, {title}{count}",
                      [format_value(s.object_dice, bounds=s.object_dice_ci) for s in summaries]))
        table.append((f"detection F1, {title}",
                      [format_value(s.detection_f1, bounds=s.detection_f1_ci) for s in summaries]))
        table.append((f"image Dice, {title}", [format_value(s.image_dice, bounds=s.image_dice_ci) for s in summaries]))
    table.append(("parameters", [f"{row.parameters:,}" for row in rows]))
    table.append(("MACs per patch", [f"{_giga(row.macs)} @ {'x'.join(map(str, row.patch_size))}" for row in rows]))
    table.append(("training wall time", [f"{row.train_seconds:.0f} s ({row.epochs} x {row.iters_per_epoch} it)"
                                         for row in rows]))
    table.append(("inference, slices/s", [format_value(row.slices_per_second, 2) for row in rows]))
    return table


def _difference_rows(differences: list[PairedDifference]) -> list[tuple[tuple[str, str, str], list[PairedDifference]]]:
    """Differences grouped by (first, second, stratum), figures in headline order."""
    grouped: dict[tuple[str, str, str], list[PairedDifference]] = {}
    for difference in differences:
        grouped.setdefault((difference.first, difference.second, difference.stratum), []).append(difference)
    return list(grouped.items())


def _signed(interval: Interval) -> str:
    if interval.estimate is None:
        return "–"
    text = f"{interval.estimate:+.3f}"
    if interval.low is None or interval.high is None:
        return text
    return f"{text} [{interval.low:+.3f}, {interval.high:+.3f}]"


def comparison_html(rows: list[ArchitectureRow], context: dict[str, Any], differences: list[PairedDifference]) -> str:
    """The same table as a self-contained page; differences whose interval excludes zero are highlighted."""
    from svseg.evaluation.html_report import page, paragraph, table

    header = ["", *(row.arch for row in rows)]
    sections = [paragraph(_context_line(context).replace("`", "")), "<h2>Side by side</h2>",
                table(header, [[label, *cells] for label, cells in _table_rows(rows)], table_id="comparison"),
                paragraph("Quality: estimate [95 % interval, bootstrap over the test cases].")]
    if differences:
        grouped = _difference_rows(differences)
        body = [[f"{first} - {second}", STRATUM_TITLES[stratum], *((_signed(d.interval), d.interval.estimate)
                                                                   for d in cells)]
                for (first, second, stratum), cells in grouped]
        marks = [["", "", *("significant" if d.interval.excludes_zero() else "" for d in cells)]
                 for _, cells in grouped]
        sections += ["<h2>Paired differences</h2>",
                     paragraph("First minus second on the same resampled cases. Highlighted: the 95 % interval "
                               "excludes zero; otherwise the difference is within the noise of these cases."),
                     table(["pair", "stratum", "object Dice", "detection F1", "image Dice"], body, sortable=True,
                           table_id="differences", cell_classes=marks)]
    return page("svseg comparison", sections)


def write_comparison(out_dir: Path, rows: list[ArchitectureRow], context: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``comparison.md``, ``comparison.json`` and ``comparison.html`` into ``out_dir`` (atomically)."""
    markdown_path, json_path = out_dir / f"{TABLE_NAME}.md", out_dir / f"{TABLE_NAME}.json"
    differences = paired_differences(rows)
    atomic_write_text(markdown_path, comparison_markdown(rows, context, differences))
    atomic_write_json(json_path, {**context, "architectures": [row.to_json() for row in rows],
                                  "paired_differences": [difference.to_json() for difference in differences]})
    atomic_write_text(out_dir / f"{TABLE_NAME}.html", comparison_html(rows, context, differences))
    return markdown_path, json_path


def _line(label: str, cells: list[str]) -> str:
    return f"| {label} | " + " | ".join(cells) + " |"


def _giga(macs: int | None) -> str:
    return "–" if macs is None else f"{macs / 1e9:.2f} G"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
