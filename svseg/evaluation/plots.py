"""PNG plots of an evaluation: Dice per stratum, Dice against object size, worst-case montage.

Figures are built with ``matplotlib.figure.Figure`` (the Agg canvas, no pyplot state), so
plotting works in worker processes and headless machines, and saved through
:func:`svseg.utils.fs.atomic_path` like every other output.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from svseg.evaluation.inputs import CasePair, load_pair
from svseg.evaluation.objects import STRATA
from svseg.utils.fs import atomic_path

log = logging.getLogger(__name__)

MONTAGE_SIZE = 8
#: Overlay colours: true positive, missed reference (FN), false positive.
COLOURS = {"tp": (1.0, 0.85, 0.0), "fn": (0.0, 0.8, 0.2), "fp": (0.9, 0.1, 0.1)}


def write_plots(metrics: dict, out_dir: Path, pairs: dict[str, CasePair],
                slice_axes: dict[str, int | None]) -> list[Path]:
    """Write the three plots (the montage only when there are objects); returns their paths."""
    paths = [_save(_dice_by_stratum(metrics), out_dir / "dice_by_stratum.png"),
             _save(_dice_vs_ratio(metrics), out_dir / "dice_vs_area_ratio.png")]
    worst = sorted(metrics["objects"], key=lambda o: (o["dice"], -o["area_px"]))[:MONTAGE_SIZE]
    if worst:
        paths.append(_save(_montage(worst, pairs, slice_axes), out_dir / "worst_cases.png"))
    return paths


def _save(figure: Figure, target: Path) -> Path:
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    return target


def _dice_by_stratum(metrics: dict) -> Figure:
    """Grouped bars: Dice per stratum and class, object block (left) and image block (right)."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    labels = metrics["settings"]["labels"]
    for axes, block in zip(figure.subplots(1, 2, sharey=True), ("object", "image"), strict=True):
        width = 0.8 / max(len(labels), 1)
        for k, (label, name) in enumerate(labels.items()):
            entries = [metrics[block][s]["per_class"][label] for s in STRATA]
            heights = [e["dice"] if e["dice"] is not None else 0.0 for e in entries]
            x = np.arange(len(STRATA)) + (k - (len(labels) - 1) / 2) * width
            bars = axes.bar(x, heights, width, label=name)
            counts = [e["n_objects"] if block == "object" else e["n_slices"] for e in entries]
            axes.bar_label(bars, labels=[f"n={n}" for n in counts], fontsize=7)
        axes.set_xticks(np.arange(len(STRATA)), [s.replace("_", "-") for s in STRATA])
        axes.set_ylim(0, 1.05)
        axes.set_title(f"{block} level Dice")
        if labels:
            axes.legend(fontsize=8)
    return figure


def _dice_vs_ratio(metrics: dict) -> Figure:
    """Per-object Dice against the object's area ratio (log x), with the stratum thresholds."""
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    for label, name in metrics["settings"]["labels"].items():
        points = [(o["ratio"], o["dice"]) for o in metrics["objects"] if str(o["class"]) == label]
        if points:
            ratio, dice = zip(*points, strict=True)
            axes.scatter(ratio, dice, s=10, alpha=0.6, label=name)
    for value in metrics["settings"]["thresholds"].values():
        axes.axvline(value, color="grey", linestyle="--", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_xlabel("object area ratio (fraction of the slice)")
    axes.set_ylabel("object Dice (zone)")
    axes.set_ylim(-0.02, 1.02)
    if metrics["objects"]:
        axes.legend(fontsize=8)
    return figure


def _montage(worst: list[dict], pairs: dict[str, CasePair], slice_axes: dict[str, int | None]) -> Figure:
    """Crops around the worst objects: yellow TP, green missed reference, red false positive."""
    columns = min(4, len(worst))
    rows = int(np.ceil(len(worst) / columns))
    figure = Figure(figsize=(3 * columns, 3.2 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax, record in zip(axes, worst, strict=False):
        gt, pred = load_pair(pairs[record["case"]])
        ref = _slice(gt.array, slice_axes.get(record["case"]), record["slice"]) == record["class"]
        prd = _slice(pred.array, slice_axes.get(record["case"]), record["slice"]) == record["class"]
        ax.imshow(_overlay(ref, prd)[_crop(record["box"], ref.shape)], interpolation="nearest")
        dice = "–" if record["dice"] is None else f"{record['dice']:.2f}"
        ax.set_title(f"{record['case']} s{record['slice']} c{record['class']}\n"
                     f"{record['area_px']} px, Dice {dice}", fontsize=8)
    for ax in axes:
        ax.set_axis_off()
    return figure


def _slice(array: np.ndarray, axis: int | None, index: int) -> np.ndarray:
    return array if axis is None else np.take(array, index, axis=axis)


def _overlay(ref: np.ndarray, pred: np.ndarray) -> np.ndarray:
    image = np.zeros((*ref.shape, 3))
    image[ref & pred] = COLOURS["tp"]
    image[ref & ~pred] = COLOURS["fn"]
    image[~ref & pred] = COLOURS["fp"]
    return image


def _crop(box: list[int], shape: tuple[int, ...]) -> tuple[slice, slice]:
    """A square window of at least 32 px, three times the object's size, centred on it."""
    size = max(32, 3 * max(box[1] - box[0], box[3] - box[2]))
    centre = ((box[0] + box[1]) // 2, (box[2] + box[3]) // 2)
    return tuple(slice(max(0, c - size // 2), min(n, c + size // 2 + 1))  # type: ignore[return-value]
                 for c, n in zip(centre, shape, strict=True))
