"""Tables of bench_accuracy.py: pooled headline figures per stratum with paired case-bootstrap intervals.

Why a module of its own: the numbers must come from the evaluations' ``per_case`` components
through svseg's own bootstrap (:mod:`svseg.evaluation.uncertainty`, the one ``svseg compare``
and ``svseg evaluate`` use), never from a second implementation, and the test checks the table
structure without training anything. Every figure is pooled over all held-out cases of all
folds: summing the cases' additive components and applying the figure's statistic gives the
evaluation's own number (object Dice, detection F1, image Dice); resampling the cases gives the
95 % interval, and resampling the same cases for two configurations gives the interval of their
difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from svseg.evaluation.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, Interval, bootstrap_interval
from svseg.evaluation.uncertainty import (
    HEADLINE,
    HEADLINE_TITLES,
    headline_components,
    paired_headline_difference,
)

STRATA = ("ultra_small", "small", "all")
STRATUM_TITLES = {"ultra_small": "ultra-small (< 1 % of the slice)", "small": "small (< 10 %)", "all": "all"}
FIGURES = tuple(HEADLINE)
MODE_TITLES = {"compute": "equal compute budget", "iterations": "equal iterations"}


@dataclass(frozen=True)
class RunScores:
    """One trained configuration's evaluations of its held-out cases, pooled over folds."""

    config: str
    reference: str | None
    iterations: int
    seconds_per_iteration: float | None
    metrics: dict[str, Any]
    note: str = ""


def pool_metrics(fold_metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """One metrics-like dict holding every fold's ``per_case`` records (case names are unique across folds)."""
    per_case: list[dict] = []
    labels: dict[str, Any] = {}
    for metrics in fold_metrics:
        per_case.extend(metrics["per_case"])
        labels.update(metrics["settings"]["labels"])
    names = [record["case"] for record in per_case]
    if len(set(names)) != len(names):
        raise ValueError("a case is held out in two folds; the folds' validation sets must not overlap")
    return {"per_case": per_case, "settings": {"labels": labels}}


def object_count(metrics: dict[str, Any], stratum: str) -> int:
    """Reference objects of a stratum over all cases (the detection components' n_ref)."""
    return int(sum(record[stratum]["detection"][0] for record in metrics["per_case"]))


def figure_interval(metrics: dict[str, Any], stratum: str, figure: str, n_resamples: int, seed: int) -> Interval:
    """The pooled figure and its 95 % case-bootstrap interval."""
    classes = sorted(metrics["settings"]["labels"])
    components = headline_components(metrics["per_case"], classes, stratum, figure)
    return bootstrap_interval(components, HEADLINE[figure], n_resamples=n_resamples, seed=seed)


def mode_table(runs: list[RunScores], n_resamples: int = DEFAULT_RESAMPLES,
               seed: int = DEFAULT_SEED) -> dict[str, dict[str, Any]]:
    """``{stratum: {config: row}}``: each figure with its interval and its paired difference to the reference.

    A configuration without a reference is one: its row holds its difference to itself, exactly
    zero with a zero-width interval (the same cases drawn for both), which the test checks.
    """
    by_name = {run.config: run for run in runs}
    table: dict[str, dict[str, Any]] = {}
    for stratum in STRATA:
        rows: dict[str, Any] = {}
        for run in runs:
            row: dict[str, Any] = {"iterations": run.iterations, "seconds_per_iteration": run.seconds_per_iteration,
                                   "reference": run.reference, "objects": object_count(run.metrics, stratum),
                                   "cases": len(run.metrics["per_case"]), "note": run.note}
            reference = by_name[run.reference] if run.reference else run  # a reference row: against itself
            for figure in FIGURES:
                row[figure] = figure_interval(run.metrics, stratum, figure, n_resamples, seed).to_json()
                row[f"{figure}_difference"] = paired_headline_difference(
                    run.metrics, reference.metrics, stratum, figure, n_resamples=n_resamples, seed=seed).to_json()
            rows[run.config] = row
        table[stratum] = rows
    return table


def _value(interval: dict[str, Any] | None, signed: bool = False) -> str:
    """``0.873 [0.861, 0.884]``; an undefined figure prints as an en dash, never as 0."""
    if not interval or interval.get("estimate") is None:
        return "–"
    fmt = "+.3f" if signed else ".3f"
    text = f"{interval['estimate']:{fmt}}"
    if interval.get("low") is None or interval.get("high") is None:
        return text
    mark = " *" if signed and (interval["low"] > 0 or interval["high"] < 0) else ""
    return f"{text} [{interval['low']:{fmt}}, {interval['high']:{fmt}}]{mark}"


def stratum_markdown(rows: dict[str, Any], stratum: str, mode: str) -> str:
    """One markdown table: a row per configuration, each figure and its difference to the reference."""
    head = ["configuration", "iterations", "s/it"]
    for figure in FIGURES:
        head += [HEADLINE_TITLES[figure], f"Δ {HEADLINE_TITLES[figure]}"]
    objects = max((row["objects"] for row in rows.values()), default=0)
    cases = max((row["cases"] for row in rows.values()), default=0)
    lines = [f"**{MODE_TITLES[mode]}, {STRATUM_TITLES[stratum]}** ({objects} objects in {cases} held-out cases; "
             "Δ = this row minus its reference, paired over the same cases; * = the 95 % interval excludes 0)", "",
             "| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, row in rows.items():
        speed = row["seconds_per_iteration"]
        cells = [f"`{name}`" + (f" (vs `{row['reference']}`)" if row["reference"] else " (reference)"),
                 str(row["iterations"]), "–" if speed is None else f"{speed:.3f}"]
        for figure in FIGURES:
            cells += [_value(row[figure]), _value(row.get(f"{figure}_difference"), signed=True)]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- `{name}`: {row['note']}" for name, row in rows.items() if row["note"]]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def report_markdown(context: dict[str, Any], speed: dict[str, Any], tables: dict[str, dict[str, Any]]) -> str:
    """The whole report: what was run where, the measured speeds, and one table per mode and stratum."""
    lines = ["# Accuracy benchmark", ""]
    lines += [f"- {key}: {value}" for key, value in context.items()]
    lines += ["", "## Measured seconds per training iteration", "",
              "| configuration | network | patch | batch | s/it (min of repeats) | repeats |",
              "|---|---|---|---:|---:|---|"]
    for name, entry in speed.items():
        repeats = ", ".join(f"{value:.3f}" for value in entry["repeats"])
        lines.append(f"| `{name}` | {entry['network']} | {'x'.join(map(str, entry['patch_size']))} | "
                     f"{entry['batch_size']} | {entry['seconds_per_iteration']:.3f} | {repeats} |")
    for mode, table in tables.items():
        lines += ["", f"## {MODE_TITLES[mode].capitalize()}", ""]
        for stratum in STRATA:
            lines += [stratum_markdown(table[stratum], stratum, mode)]
    return "\n".join(lines) + "\n"
