"""``progress.png`` that stays readable when one epoch's loss is far off the others.

nnU-Net's logger draws the losses on a linear axis scaled to every value, so a first epoch with a
validation loss of 207 against -0.8 afterwards flattens the whole curve into a line at the bottom.
svseg draws the same three panels (losses with the pseudo-Dice, epoch duration, learning rate) but
scales the loss axis to the values inside Tukey's far-out fences (quartiles -/+ 3 interquartile
ranges), a rule that a single wild value cannot move, and marks every point beyond them at the
edge with a triangle and its value; the panel title says how many were clipped. The figure is
drawn in svseg's local style (nnU-Net sets seaborn's font_scale 2.5 while plotting) and saved
atomically. nnU-Net's logger class is subclassed, not copied; only its plot is replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from nnunetv2.training.logging.nnunet_logger import LocalLogger

from svseg.utils.figures import save_figure, styled

FENCE = 3.0  # interquartile ranges beyond the quartiles: Tukey's "far out"
KEYS = ("train_losses", "val_losses", "mean_fg_dice", "ema_fg_dice", "lrs", "epoch_start_timestamps",
        "epoch_end_timestamps")


def loss_limits(values: np.ndarray) -> tuple[float, float]:
    """Y-limits holding every loss inside the far-out fences, with a little headroom."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return -1.0, 1.0
    q1, q3 = np.percentile(finite, [25, 75])
    spread = max(q3 - q1, 1e-3 * max(1.0, abs(float(np.median(finite)))))
    inside = finite[(finite >= q1 - FENCE * spread) & (finite <= q3 + FENCE * spread)]
    low, high = float(inside.min()), float(inside.max())
    pad = 0.08 * max(high - low, spread)
    return low - pad, high + pad


@styled
def draw_progress(logged: dict[str, list[Any]]) -> Figure:
    """Losses and pseudo-Dice, epoch time, learning rate; one row each, epochs on x."""
    epochs = min(len(logged[key]) for key in KEYS)
    x = np.arange(1, epochs + 1)
    figure = Figure(figsize=(8, 8.5), layout="constrained")
    loss_axes, time_axes, lr_axes = figure.subplots(3, 1, sharex=True, height_ratios=(2, 1, 1))
    _losses(loss_axes, x, {key: np.asarray(logged[key][:epochs], dtype=np.float64)
                           for key in ("train_losses", "val_losses", "mean_fg_dice", "ema_fg_dice")})
    durations = np.subtract(logged["epoch_end_timestamps"][:epochs], logged["epoch_start_timestamps"][:epochs])
    time_axes.plot(x, durations, color="#0072B2", marker="." if epochs < 30 else None)
    time_axes.set_ylim(0, max(float(np.max(durations)) * 1.1, 1e-3) if epochs else 1)
    time_axes.set_ylabel("epoch time (s)")
    lr_axes.plot(x, logged["lrs"][:epochs], color="#0072B2", marker="." if epochs < 30 else None)
    lr_axes.set_ylabel("learning rate")
    lr_axes.set_xlabel("epoch")
    lr_axes.xaxis.get_major_locator().set_params(integer=True)
    return figure


def _losses(axes: Axes, x: np.ndarray, series: dict[str, np.ndarray]) -> None:
    """Both losses on a fence-scaled axis (clipped points marked), pseudo-Dice on a twin axis in [0, 1]."""
    low, high = loss_limits(np.concatenate([series["train_losses"], series["val_losses"]]))
    clipped = 0
    for key, label, colour in (("train_losses", "train loss", "#0072B2"), ("val_losses", "validation loss", "#D55E00")):
        values = series[key]
        axes.plot(x, np.clip(values, low, high), color=colour, label=label, marker="." if len(x) < 30 else None)
        for edge, beyond, marker in ((high, values > high, "^"), (low, values < low, "v")):
            for epoch, value in zip(x[beyond], values[beyond], strict=True):
                axes.plot(epoch, edge, marker=marker, color=colour, markersize=8, linestyle="none", clip_on=False)
                axes.annotate(f"{value:.3g}", (epoch, edge), xytext=(4, -10 if marker == "^" else 4),
                              textcoords="offset points", fontsize=7, color=colour)
                clipped += 1
    axes.set_ylim(low, high)
    axes.set_ylabel("loss")
    dice_axes = axes.twinx()
    dice_axes.plot(x, series["mean_fg_dice"], color="#009E73", linestyle=":", label="pseudo-Dice")
    dice_axes.plot(x, series["ema_fg_dice"], color="#009E73", label="pseudo-Dice (moving average)")
    dice_axes.set_ylim(0, 1)
    dice_axes.set_ylabel("pseudo-Dice")
    handles = axes.get_legend_handles_labels()[0] + dice_axes.get_legend_handles_labels()[0]
    axes.figure.legend(handles=handles, loc="outside upper center", ncols=4, fontsize=7, frameon=False)
    note = f"; y-axis clipped, {clipped} point(s) off scale marked ▲/▼ with their values" if clipped else ""
    axes.set_title(f"training progress{note}", fontsize=9)


class ReadableProgressLogger(LocalLogger):
    """nnU-Net's local logger with svseg's progress.png (same values, same checkpoint content)."""

    def plot_progress_png(self, output_folder: str) -> None:
        """Draw progress.png into `output_folder`, atomically."""
        save_figure(draw_progress(self.my_fantastic_logging), Path(output_folder) / "progress.png")


def use_readable_progress_plot(meta_logger: Any) -> None:
    """Swap a MetaLogger's local logger for :class:`ReadableProgressLogger`, keeping everything logged."""
    local = meta_logger.local_logger
    if isinstance(local, ReadableProgressLogger):
        return
    readable = ReadableProgressLogger(local.verbose)
    readable.my_fantastic_logging = local.my_fantastic_logging
    meta_logger.local_logger = readable
