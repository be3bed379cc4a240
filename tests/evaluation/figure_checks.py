"""Checks that a figure reads: run after nnU-Net's own progress plot, inspected with the renderer.

nnU-Net calls ``seaborn.set(font_scale=2.5)`` whenever it draws progress.png, so
:func:`nnunet_global_style` runs that very code first. :func:`text_problems` uses matplotlib's
renderer: every text's box lies inside the canvas, and no two tick labels of one axis overlap.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.text import Text


@contextmanager
def nnunet_global_style(folder: Path) -> Iterator[None]:
    """Run nnU-Net's own progress plot (it sets seaborn's global style); restore matplotlib afterwards."""
    from nnunetv2.training.logging.nnunet_logger import LocalLogger

    with matplotlib.rc_context():
        logger = LocalLogger()
        for epoch in range(2):
            for key, value in (("mean_fg_dice", 0.5), ("ema_fg_dice", 0.5), ("dice_per_class_or_region", [0.5]),
                               ("train_losses", -0.5), ("val_losses", -0.4), ("lrs", 0.01),
                               ("epoch_start_timestamps", epoch), ("epoch_end_timestamps", epoch + 1.0)):
                logger.log(key, value, epoch)
        logger.plot_progress_png(str(folder))
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
