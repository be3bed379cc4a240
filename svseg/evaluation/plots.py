"""PNG charts of an evaluation: Dice per stratum (with 95 % intervals) and Dice against object size.

Charts are drawn inside :func:`svseg.utils.figures.figure_style`, never in whatever global style
another library left behind (nnU-Net sets seaborn's ``font_scale=2.5`` while training), and saved
atomically. The worst cases are drawn on their images by :mod:`svseg.evaluation.overlays`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from svseg.objects import STRATA
from svseg.utils.figures import save_figure, styled

log = logging.getLogger(__name__)

STRATUM_LABELS = {"ultra_small": "ultra-small", "small": "small", "all": "all"}


def write_plots(metrics: dict, out_dir: Path) -> list[Path]:
    """Write the two charts; returns their paths."""
    return [save_figure(dice_by_stratum(metrics), out_dir / "dice_by_stratum.png"),
            save_figure(dice_vs_ratio(metrics), out_dir / "dice_vs_area_ratio.png")]


def _tick_labels(metrics: dict) -> list[str]:
    t = metrics["settings"]["thresholds"]
    limits = {"ultra_small": f"< {t['ultra_small'] * 100:g} %", "small": f"< {t['small'] * 100:g} %", "all": "any size"}
    return [f"{STRATUM_LABELS[s]}\n({limits[s]})" for s in STRATA]


@styled
def dice_by_stratum(metrics: dict) -> Figure:
    """Grouped bars per stratum and class (object block left, image block right), n at each bar's foot,
    and the mean over classes with its 95 % interval."""
    figure = Figure(figsize=(9, 3.8), layout="constrained")
    labels = metrics["settings"]["labels"]
    intervals = (metrics.get("uncertainty") or {}).get("strata", {})
    for axes, block in zip(figure.subplots(1, 2, sharey=True), ("object", "image"), strict=True):
        width = 0.7 / max(len(labels), 1)
        for k, (label, name) in enumerate(labels.items()):
            entries = [metrics[block][s]["per_class"][label] for s in STRATA]
            heights = [e["dice"] if e["dice"] is not None else 0.0 for e in entries]
            x = np.arange(len(STRATA)) + (k - (len(labels) - 1) / 2) * width
            axes.bar(x, heights, width, label=f"class {name}")
            counts = [e["n_objects"] if block == "object" else e["n_slices"] for e in entries]
            for position, count in zip(x, counts, strict=True):  # inside the bar's foot: clear of the whiskers
                axes.annotate(f"n={count}", (position, 0.0), xytext=(0, 3), textcoords="offset points", rotation=90,
                              ha="center", va="bottom", fontsize=7, color="white" if count else "black")
        _interval_markers(axes, [intervals.get(s, {}).get(f"{block}_dice") for s in STRATA])
        axes.set_xticks(np.arange(len(STRATA)), _tick_labels(metrics))
        axes.set_ylim(0, 1.12)
        axes.set_title(f"{block} level Dice" + (" (n = objects)" if block == "object" else " (n = slices)"))
        if labels:
            axes.legend(loc="upper left", ncols=2, fontsize=7, frameon=False)
    figure.axes[0].set_ylabel("Dice")
    figure.supxlabel("stratum (object area as a fraction of the slice)", fontsize=8)
    return figure


def _interval_markers(axes: object, intervals: list[dict | None]) -> None:
    """Black diamonds with 95 % interval whiskers for the mean over classes, where defined."""
    points = [(x, i) for x, i in enumerate(intervals) if i and i.get("estimate") is not None]
    if not points:
        return
    x = [p[0] for p in points]
    estimate = np.array([p[1]["estimate"] for p in points])
    low = np.array([p[1]["low"] if p[1]["low"] is not None else p[1]["estimate"] for p in points])
    high = np.array([p[1]["high"] if p[1]["high"] is not None else p[1]["estimate"] for p in points])
    axes.errorbar(x, estimate, yerr=[estimate - low, high - estimate], fmt="D", color="black", markersize=4,
                  capsize=3, linewidth=1, label="mean, 95 % CI")


@styled
def dice_vs_ratio(metrics: dict) -> Figure:
    """Per-object Dice against the object's area ratio (log x), with the stratum limits dashed."""
    figure = Figure(figsize=(6.5, 4.2), layout="constrained")
    axes = figure.subplots()
    for label, name in metrics["settings"]["labels"].items():
        points = [(o["ratio"], o["dice"]) for o in metrics["objects"] if str(o["class"]) == label]
        if points:
            ratio, dice = zip(*points, strict=True)
            axes.scatter(ratio, dice, s=12, alpha=0.6, label=f"class {name}")
    limits = metrics["settings"]["thresholds"]
    for value in limits.values():
        axes.axvline(value, color="grey", linestyle="--", linewidth=0.8)
    axes.set_xscale("log")
    top = axes.secondary_xaxis("top")  # the limits named above the frame, clear of the points
    top.set_xticks(list(limits.values()), [f"{STRATUM_LABELS[s]} < {v * 100:g} %" for s, v in limits.items()],
                   fontsize=7, color="dimgrey")
    top.minorticks_off()
    axes.set_xlabel("object area ratio (fraction of the slice, log scale)")
    axes.set_ylabel("object Dice (in its zone)")
    axes.set_ylim(-0.03, 1.03)
    if metrics["objects"]:
        axes.legend(loc="lower right", fontsize=7)
    return figure
