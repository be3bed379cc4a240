"""Overlays of the worst cases on the real image: per stratum the worst objects and the worst slices.

What a reviewer needs to judge a number is to see it. Each panel shows the case's image (or, when
no image folder was given, a dark background), the reference outline in Okabe-Ito blue and the
prediction outline in Okabe-Ito orange (a pair told apart with every common colour-vision
deficiency), and circles round every missed reference object (reddish purple, dashed) and every
false detection (yellow, dotted) with its area in pixels. Panels are numbered; the title carries a
shortened case id (the full id is in report.html and report.md). Volumes get one more figure: for
each volume, the slice holding its largest missed object, with the slice index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle
from scipy import ndimage

from svseg.evaluation.inputs import CasePair
from svseg.evaluation.overlay_data import SliceView, load_views
from svseg.objects import STRATA, strata_masks
from svseg.utils.figures import save_figure, styled

N_WORST = 6
COLUMNS = 3
COLOURS = {"reference": "#0072B2", "prediction": "#E69F00", "missed": "#CC79A7", "false": "#F0E442"}
_EIGHT = np.ones((3, 3), dtype=bool)
_MAX_CIRCLES = 6  # per kind and panel, largest first
_DARK_EDGE = [patheffects.withStroke(linewidth=2, foreground="black")]  # labels legible on bright tissue


@dataclass(frozen=True)
class Panel:
    """One panel: which slice of which case, the class outlined, and what the title says."""

    case: str
    slice: int
    label: int
    dice: float | None
    area_px: int | None = None
    box: tuple[int, int, int, int] | None = None  # crop around this object (row0, row1, col0, col1)


@dataclass
class OverlayFigure:
    """A figure of panels, its file name and, once written, its path and the image windows used."""

    name: str
    title: str
    kind: str
    stratum: str | None
    panels: list[Panel]
    path: Path | None = None
    windows: dict[str, str | None] = field(default_factory=dict)


def choose_figures(metrics: dict, n_worst: int = N_WORST) -> list[OverlayFigure]:
    """Per stratum the worst objects (lowest Dice, larger first) and slices (lowest Dice); volumes' misses."""
    figures = []
    thresholds = tuple(metrics["settings"]["thresholds"].values())
    objects = metrics["objects"]
    in_strata = strata_masks(np.array([o["ratio"] for o in objects], dtype=np.float64), thresholds)
    slice_strata = _slice_strata(metrics["slices"], thresholds)
    for stratum in STRATA:
        chosen = [o for o, keep in zip(objects, in_strata[stratum], strict=True) if keep]
        worst = sorted(chosen, key=lambda o: (o["dice"], -o["area_px"]))[:n_worst]
        if worst:
            figures.append(OverlayFigure(f"overlay_{stratum}_objects.png", f"worst objects, {_title(stratum)}",
                                         "objects", stratum, [_object_panel(o) for o in worst]))
        rows = [(s, label, e) for s, keep in zip(metrics["slices"], slice_strata[stratum], strict=True) if keep
                for label, e in s["per_class"].items() if e["dice"] is not None]
        rows.sort(key=lambda item: (item[2]["dice"], -(item[2]["fp"] + item[2]["fn"])))
        if rows:
            panels = [Panel(s["case"], s["slice"], int(label), e["dice"]) for s, label, e in rows[:n_worst]]
            figures.append(OverlayFigure(f"overlay_{stratum}_slices.png", f"worst slices, {_title(stratum)}",
                                         "slices", stratum, panels))
    misses = _volume_misses(metrics, n_worst)
    if misses:
        figures.append(OverlayFigure("overlay_volumes_missed.png", "largest missed object of each volume",
                                     "volume misses", None, misses))
    return figures


def _slice_strata(slices: list[dict], thresholds: tuple[float, ...]) -> dict[str, np.ndarray]:
    """The image block's membership (aggregate.image_strata): empty-reference slices in ``all`` only."""
    ratio = np.array([s["r_img"] for s in slices], dtype=np.float64)
    return {name: mask if name == "all" else mask & (ratio > 0)
            for name, mask in strata_masks(ratio, thresholds).items()}


def _volume_misses(metrics: dict, n_worst: int) -> list[Panel]:
    """For each volume (largest miss first), the slice of its largest missed reference object."""
    volumes = {record["case"] for record in (metrics.get("volume") or {}).get("cases", [])}
    largest: dict[str, dict] = {}
    for o in metrics["objects"]:
        if o["case"] in volumes and not o["detected"] and o["area_px"] > largest.get(o["case"], {}).get("area_px", 0):
            largest[o["case"]] = o
    ordered = sorted(largest.values(), key=lambda o: -o["area_px"])[:n_worst]
    return [Panel(o["case"], o["slice"], o["class"], o["dice"], o["area_px"]) for o in ordered]


def _object_panel(record: dict) -> Panel:
    return Panel(record["case"], record["slice"], record["class"], record["dice"], record["area_px"],
                 tuple(record["box"]))


def _title(stratum: str) -> str:
    return {"ultra_small": "ultra-small stratum", "small": "small stratum", "all": "all objects"}[stratum]


def write_overlays(figures: list[OverlayFigure], out_dir: Path, pairs: dict[str, CasePair],
                   slice_axes: dict[str, int | None], images: dict[str, Path]) -> list[OverlayFigure]:
    """Read each needed case once, draw every figure and save it; returns the figures with their paths."""
    needed: dict[str, set[int]] = {}
    for figure in figures:
        for panel in figure.panels:
            needed.setdefault(panel.case, set()).add(panel.slice)
    views = {}
    for case, slices in needed.items():
        for index, view in load_views(pairs[case], images.get(case), slice_axes.get(case), slices).items():
            views[case, index] = view
    for figure in figures:
        figure.windows = {p.case: views[p.case, p.slice].window for p in figure.panels}
        drawn = draw_figure(figure, [views[p.case, p.slice] for p in figure.panels], slice_axes)
        figure.path = save_figure(drawn, out_dir / figure.name)
    return figures


@styled
def draw_figure(figure: OverlayFigure, views: list[SliceView], slice_axes: dict[str, int | None]) -> Figure:
    """The panels in rows of three, a legend below; titles hold #, short id, slice (volumes), Dice, pixels."""
    columns = min(COLUMNS, len(figure.panels))
    rows = math.ceil(len(figure.panels) / columns)
    drawn = Figure(figsize=(2.7 * columns + 0.2, 2.75 * rows + 0.9), layout="constrained")
    axes = np.atleast_1d(drawn.subplots(rows, columns, squeeze=False)).ravel()
    for number, (ax, panel, view) in enumerate(zip(axes, figure.panels, views, strict=False), start=1):
        _draw_panel(ax, panel, view)
        where = f" s{panel.slice}" if slice_axes.get(panel.case) is not None else ""
        dice = "–" if panel.dice is None else f"{panel.dice:.2f}"
        size = f", {panel.area_px} px" if panel.area_px is not None else ""
        ax.set_title(f"#{number} {short_id(panel.case)}{where}\nclass {panel.label}, Dice {dice}{size}", fontsize=8)
    for ax in axes:
        ax.set_axis_off()
    masks_only = all(view.image is None for view in views)
    drawn.suptitle(figure.title + (" (masks only: no image given)" if masks_only else ""), fontsize=10)
    drawn.legend(handles=_legend_handles(), loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return drawn


def _draw_panel(ax: Axes, panel: Panel, view: SliceView) -> None:
    ref, pred = view.ref == panel.label, view.pred == panel.label
    window = _crop(panel.box, ref.shape) if panel.box is not None else (0, ref.shape[0], 0, ref.shape[1])
    r0, r1, c0, c1 = window
    extent = (c0 - 0.5, c1 - 0.5, r1 - 0.5, r0 - 0.5)
    if view.image is not None:
        ax.imshow(view.image[r0:r1, c0:c1], cmap="gray", vmin=0.0, vmax=1.0, extent=extent, interpolation="nearest")
    else:
        ax.imshow(np.full((r1 - r0, c1 - c0), 0.12), cmap="gray", vmin=0.0, vmax=1.0, extent=extent)
    for mask, colour in ((ref, COLOURS["reference"]), (pred, COLOURS["prediction"])):
        _outline(ax, mask[r0:r1, c0:c1], (r0, c0), colour)
    _circle_misses(ax, ref, pred, window)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])


def _outline(ax: Axes, mask: np.ndarray, origin: tuple[int, int], colour: str) -> None:
    """The mask's outline along pixel edges: the 0.5 contour of a nearest-neighbour upsampling."""
    if not mask.any() or mask.all():
        return
    factor = max(1, math.ceil(192 / max(mask.shape)))
    fine = np.pad(np.kron(mask, np.ones((factor, factor))), 1)
    rows = (np.arange(fine.shape[0]) - 1 + 0.5) / factor - 0.5 + origin[0]
    cols = (np.arange(fine.shape[1]) - 1 + 0.5) / factor - 0.5 + origin[1]
    ax.contour(cols, rows, fine, levels=[0.5], colors=[colour], linewidths=1.3)


def _circle_misses(ax: Axes, ref: np.ndarray, pred: np.ndarray, window: tuple[int, int, int, int]) -> None:
    """Circle missed reference objects and false detections that lie in the view, with their areas."""
    r0, r1, c0, c1 = window
    view_size = max(r1 - r0, c1 - c0)
    for mask, other, colour, style in ((ref, pred, COLOURS["missed"], "--"), (pred, ref, COLOURS["false"], ":")):
        labels, count = ndimage.label(mask, structure=_EIGHT)
        if not count:
            continue
        hit = set(np.unique(labels[mask & other]).tolist())
        areas = np.bincount(labels.ravel(), minlength=count + 1)
        boxes = ndimage.find_objects(labels)
        alone = [int(k) for k in np.argsort(-areas[1:], kind="stable") + 1 if int(k) not in hit][:_MAX_CIRCLES]
        for k, box in ((k, boxes[k - 1]) for k in alone):
            centre = ((box[0].start + box[0].stop - 1) / 2, (box[1].start + box[1].stop - 1) / 2)
            if not (r0 <= centre[0] < r1 and c0 <= centre[1] < c1):
                continue
            radius = max(0.6 * max(box[0].stop - box[0].start, box[1].stop - box[1].start) + 1.5, 0.05 * view_size)
            ax.add_patch(Circle((centre[1], centre[0]), radius, fill=False, edgecolor=colour, linestyle=style,
                                linewidth=1.4))
            ax.annotate(f"{int(areas[k])} px", (centre[1] + radius * 0.75, centre[0] - radius * 0.75), color=colour,
                        fontsize=7, annotation_clip=True, clip_on=True, path_effects=_DARK_EDGE)


def _legend_handles() -> list[Line2D]:
    circle = {"marker": "o", "markersize": 9, "markerfacecolor": "none", "linestyle": "none"}
    return [Line2D([], [], color=COLOURS["reference"], linewidth=2, label="reference outline"),
            Line2D([], [], color=COLOURS["prediction"], linewidth=2, label="prediction outline"),
            Line2D([], [], markeredgecolor=COLOURS["missed"], label="missed reference object (area)", **circle),
            Line2D([], [], markeredgecolor=COLOURS["false"], label="false detection (area)", **circle)]


def _crop(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A square window of at least 32 px, three times the object's size, centred on it, inside the slice."""
    size = min(max(32, 3 * max(box[1] - box[0], box[3] - box[2])), *shape)
    rows = _span((box[0] + box[1]) // 2, size, shape[0])
    cols = _span((box[2] + box[3]) // 2, size, shape[1])
    return (*rows, *cols)


def _span(centre: int, size: int, length: int) -> tuple[int, int]:
    start = min(max(0, centre - size // 2), length - size)
    return start, start + size


def short_id(case: str, limit: int = 16) -> str:
    """A case id that fits a panel title: long ids keep their start and end around an ellipsis."""
    if len(case) <= limit:
        return case
    keep = limit - 1
    return f"{case[: keep // 2]}…{case[-(keep - keep // 2):]}"
