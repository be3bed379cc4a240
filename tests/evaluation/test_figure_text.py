"""Every svseg figure reads at its size even after nnU-Net set its global seaborn style.

nnU-Net calls ``seaborn.set(font_scale=2.5)`` whenever it draws progress.png, so the figures
here are built after running that very code. The checks use matplotlib's renderer: every text's
box lies inside the canvas, and no two tick labels of one axis overlap.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from svseg.evaluation.inputs import pair_cases
from svseg.evaluation.overlay_data import load_views
from svseg.evaluation.overlays import choose_figures, draw_figure
from svseg.evaluation.plots import dice_by_stratum, dice_vs_ratio

from .examples import box, evaluate_arrays, example_3, write_pngs


@pytest.fixture
def nnunet_style(tmp_path: Path) -> Iterator[None]:
    """Run nnU-Net's own progress plot first (it sets seaborn's global style), restore afterwards."""
    from nnunetv2.training.logging.nnunet_logger import LocalLogger

    with matplotlib.rc_context():
        logger = LocalLogger()
        for epoch in range(2):
            for key, value in (("mean_fg_dice", 0.5), ("ema_fg_dice", 0.5), ("dice_per_class_or_region", [0.5]),
                               ("train_losses", -0.5), ("val_losses", -0.4), ("lrs", 0.01),
                               ("epoch_start_timestamps", epoch), ("epoch_end_timestamps", epoch + 1.0)):
                logger.log(key, value, epoch)
        logger.plot_progress_png(str(tmp_path))
        assert matplotlib.rcParams["font.size"] > 20  # the global style svseg must not inherit
        yield


def _drawn_tick_labels(axis: object) -> list[Text]:
    """Tick labels the axis draws: axes on, visible, non-empty, at a location inside the view."""
    if not axis.axes.axison or not axis.get_visible():
        return []
    low, high = sorted(axis.get_view_interval())
    span = (high - low) * 1e-9
    labels = []
    for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
        if low - span <= tick.get_loc() <= high + span:
            labels += [t for t in (tick.label1, tick.label2) if t.get_visible() and t.get_text().strip()]
    return labels


def text_problems(figure: Figure) -> list[str]:
    """Texts leaving the canvas and overlapping tick labels, as readable phrases ([] when it reads)."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    canvas = figure.bbox
    all_axes = figure.findobj(lambda artist: hasattr(artist, "xaxis") and hasattr(artist, "yaxis"))
    drawn_ticks = {id(t): t for axes in all_axes for axis in (axes.xaxis, axes.yaxis) for t in _drawn_tick_labels(axis)}
    tick_texts = {id(t) for axes in all_axes for axis in (axes.xaxis, axes.yaxis)
                  for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()] for t in (tick.label1, tick.label2)}
    problems = []
    for text in figure.findobj(Text):
        if id(text) in tick_texts and id(text) not in drawn_ticks:
            continue  # a tick outside the view is never drawn
        if not text.get_visible() or not text.get_text().strip() or (text.get_clip_on() and text.get_clip_box()):
            continue  # clipped texts (labels inside an image) cannot leave their axes
        extent = text.get_window_extent(renderer)
        if (extent.x0 < canvas.x0 - 1 or extent.y0 < canvas.y0 - 1 or extent.x1 > canvas.x1 + 1
                or extent.y1 > canvas.y1 + 1):
            problems.append(f"{text.get_text()!r} leaves the canvas")
    for axes in all_axes:
        for axis in (axes.xaxis, axes.yaxis):
            boxes = [(t.get_text(), t.get_window_extent(renderer).shrunk(0.98, 0.98)) for t in _drawn_tick_labels(axis)]
            for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
                if box_a.overlaps(box_b):
                    problems.append(f"tick labels {a!r} and {b!r} overlap")
    return problems


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Two classes, a long case id, several strata."""
    ref, pred = example_3()
    two_ref, two_pred = ref.copy(), pred.copy()
    two_ref[box(80, 95, 5, 40)] = 2
    two_pred[box(82, 95, 5, 38)] = 2
    return {"ex3": (ref, pred), "patient_0042_series_7_t2w_axial_export_2023-11-05T10-42-17": (two_ref, two_pred)}


def _figures(tmp_path: Path) -> list[tuple[str, Figure]]:
    cases = _cases()
    metrics = evaluate_arrays(cases)
    gt = write_pngs(tmp_path / "gt", {name: ref for name, (ref, _) in cases.items()})
    pred = write_pngs(tmp_path / "pred", {name: pred for name, (_, pred) in cases.items()})
    pairs = {p.case: p for p in pair_cases(pred, gt)}
    built = [("dice_by_stratum", dice_by_stratum(metrics)), ("dice_vs_ratio", dice_vs_ratio(metrics))]
    for overlay in choose_figures(metrics):
        views = [load_views(pairs[p.case], None, None, {p.slice})[p.slice] for p in overlay.panels]
        built.append((overlay.name, draw_figure(overlay, views, {})))
    return built


def test_every_figure_fits_its_canvas_after_nnunets_style(tmp_path: Path, nnunet_style: None) -> None:
    figures = _figures(tmp_path)
    assert len(figures) >= 6
    for name, figure in figures:
        assert text_problems(figure) == [], name


def test_the_check_catches_figures_drawn_in_nnunets_style(tmp_path: Path, nnunet_style: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Without svseg's local style the same figures inherit font_scale 2.5: the check must see it.
    monkeypatch.setattr("svseg.utils.figures.figure_style", contextlib.nullcontext)
    problems = [problem for _, figure in _figures(tmp_path) for problem in text_problems(figure)]
    assert problems, "the check found nothing wrong in figures drawn at font_scale 2.5"
