"""What a person watching a training run sees: a bar per epoch and one line per epoch.

nnU-Net prints many lines per epoch (and the whole plans at start) and has no per-iteration
progress (its issue #2927). svseg shows a rich bar over each epoch's training iterations
(silent when stderr is not a terminal, see :mod:`svseg.utils.progress`) and logs one line per
epoch, always in this order: epoch, train loss, validation loss, pseudo-Dice per class, epoch
time, ETA. nnU-Net's own messages still go to its ``training_log_*.txt`` in the fold folder and,
at debug level, to svseg's log. ``progress.png`` is drawn by :mod:`svseg.training.progress_plot`
(nnU-Net's logger with a plot that stays readable when one epoch's loss is far off).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from rich.progress import Progress, TaskID

from svseg.training.progress_plot import use_readable_progress_plot
from svseg.training.validation_progress import ValidationProgress
from svseg.utils.progress import make_progress

log = logging.getLogger(__name__)


def _number(value: Any, digits: int) -> str:
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def format_eta(seconds: float) -> str:
    """``H:MM:SS`` (days spelled out by timedelta when longer)."""
    return str(timedelta(seconds=round(max(0.0, seconds))))


def format_epoch_line(
    epoch: int,
    num_epochs: int,
    train_loss: float,
    val_loss: float,
    dice_per_class: Sequence[float],
    epoch_seconds: float,
    eta_seconds: float,
) -> str:
    """The per-epoch line; `epoch` is 0-based and shown 1-based (``epoch 3/100``)."""
    dice = ", ".join(_number(value, 4) for value in dice_per_class)
    return (
        f"epoch {epoch + 1}/{num_epochs} | train loss {_number(train_loss, 4)} | val loss {_number(val_loss, 4)} | "
        f"pseudo-Dice [{dice}] | {epoch_seconds:.1f} s | ETA {format_eta(eta_seconds)}"
    )


def estimate_eta(epoch_seconds: Sequence[float], epochs_left: int) -> float:
    """Seconds left: the mean logged epoch time times the epochs still to run."""
    if not epoch_seconds or epochs_left <= 0:
        return 0.0
    return sum(epoch_seconds) / len(epoch_seconds) * epochs_left


class EpochProgressHooks:
    """Trainer hooks for the bar, the epoch line and nnU-Net's console chatter (mixin for SvsegTrainer)."""

    _bar: Progress | None = None
    _bar_task: TaskID | None = None
    _validation: ValidationProgress | None = None

    def train_step(self, batch: dict) -> dict:
        """nnU-Net's training step, advancing the epoch's bar (opened at the first step)."""
        if self._bar is None and self.local_rank == 0:
            self._bar = make_progress(transient=True)
            self._bar.start()
            self._bar_task = self._bar.add_task(
                f"epoch {self.current_epoch + 1}/{self.num_epochs}", total=self.num_iterations_per_epoch
            )
        result = super().train_step(batch)
        if self._bar is not None:
            self._bar.advance(self._bar_task)
        return result

    def on_epoch_end(self) -> None:
        """Close the bar, let nnU-Net log/checkpoint/plot (svseg's progress.png), then write the epoch line."""
        self.stop_progress()
        use_readable_progress_plot(self.logger)
        epoch = self.current_epoch
        super().on_epoch_end()
        if self.local_rank == 0:
            log.info(self._epoch_line(epoch))

    def print_to_log_file(self, *args: Any, also_print_to_console: bool = True, add_timestamp: bool = True) -> None:
        """nnU-Net's log file as before; its console echo goes to svseg's log at debug level.

        When nothing handles svseg's log (the trainer run by nnU-Net's own ``nnUNetv2_train``),
        nnU-Net keeps printing as it always does, so its users still see their epochs. The messages
        also drive the final validation's bar (:mod:`svseg.training.validation_progress`).
        """
        echo = also_print_to_console and not log.hasHandlers()
        # nnU-Net opens its log with the locale's encoding, which is ASCII on bare CI machines;
        # plans text such as "mm²" would then crash training, so non-ASCII is escaped here.
        safe_args = tuple(str(arg).encode("ascii", "backslashreplace").decode("ascii") for arg in args)
        super().print_to_log_file(*safe_args, also_print_to_console=echo, add_timestamp=add_timestamp)
        if also_print_to_console and not echo and self.local_rank == 0:
            log.debug(" ".join(str(arg) for arg in args))
        if self.local_rank == 0:
            if self._validation is None:
                self._validation = ValidationProgress()
            self._validation.observe(" ".join(str(arg) for arg in args), self)

    def stop_progress(self) -> None:
        """Remove the bars (also after an interruption, so the terminal is left clean)."""
        if self._bar is not None:
            self._bar.stop()
        self._bar = None
        self._bar_task = None
        if self._validation is not None:
            self._validation.stop()

    def _epoch_line(self, epoch: int) -> str:
        value = self.logger.get_value
        starts, ends = value("epoch_start_timestamps", None), value("epoch_end_timestamps", None)
        durations = [end - start for start, end in zip(starts, ends, strict=False)]
        return format_epoch_line(
            epoch,
            self.num_epochs,
            value("train_losses", epoch),
            value("val_losses", epoch),
            value("dice_per_class_or_region", epoch),
            durations[epoch],
            estimate_eta(durations, self.num_epochs - epoch - 1),
        )
