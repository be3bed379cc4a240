"""A progress bar for the fold's final validation, which nnU-Net runs without reporting anything.

After the last epoch nnU-Net's ``perform_actual_validation`` predicts every held-out case with
mirroring and exports it; on two 182-slice MRI volumes on a CPU that is about 20 minutes of
silence. nnU-Net gives no callback, so the bar is driven by what it does expose: its log messages
(``This split has N training and M validation cases.``, ``predicting CASE``, ``CASE, shape (c, z,
y, x), ...``, ``Validation complete``), which reach svseg through the trainer's
``print_to_log_file``, and a forward hook on the network that counts tiles. The tiles a case needs
follow from nnU-Net's own sliding-window steps (:func:`compute_steps_for_sliding_window`, half a
patch apart, images smaller than a patch padded up) times its mirroring passes, so the bar moves
within a case, in slices, with rate and ETA. One summary line is logged at the end.
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import Any

log = logging.getLogger(__name__)

_SPLIT = re.compile(r"has (\d+) training and (\d+) validation cases")
_PREDICTING = re.compile(r"^predicting (\S+)$")
_SHAPE = re.compile(r"^(\S+), shape\D*(\d+),\s*(\d+),\s*(\d+)(?:,\s*(\d+))?")
_TILE_STEP = 0.5  # nnU-Net's perform_actual_validation predicts with tile_step_size=0.5


def forward_passes(shape_zyx: tuple[int, ...], patch: tuple[int, ...], mirror_axes: tuple[int, ...] | None) -> int:
    """Network calls nnU-Net's predictor makes for one preprocessed case of `shape_zyx` (one tile per call)."""
    from nnunetv2.inference.sliding_window_prediction import compute_steps_for_sliding_window

    planes = shape_zyx[-len(patch):]
    padded = tuple(max(int(size), int(side)) for size, side in zip(planes, patch, strict=True))
    steps = compute_steps_for_sliding_window(padded, tuple(int(p) for p in patch), _TILE_STEP)
    tiles = math.prod(len(axis_steps) for axis_steps in steps)
    slices = int(shape_zyx[0]) if len(patch) < len(shape_zyx) else 1
    return slices * tiles * 2 ** len(mirror_axes or ())


class ValidationProgress:
    """The final validation's bar for one trainer (main process); fed with every log message."""

    def __init__(self) -> None:
        self.total_cases: int | None = None
        self.cases = 0
        self.slices_done = 0.0
        self._case_slices = 0
        self._calls = 0
        self._expected: int | None = None
        self._bar: Any = None
        self._task: Any = None
        self._hook: Any = None
        self._started = 0.0

    def observe(self, message: str, trainer: Any) -> None:
        """React to one of nnU-Net's messages (others are ignored)."""
        if split := _SPLIT.search(message):
            self.total_cases = int(split.group(2))
        elif _PREDICTING.match(message):
            self._finish_case()
            if self._bar is None:
                self._start(trainer)
        elif (shape := _SHAPE.match(message)) and self._bar is not None:
            dims = tuple(int(d) for d in shape.groups()[2:] if d is not None)  # channels dropped
            self._case_slices = dims[0]
            patch = tuple(trainer.configuration_manager.patch_size)
            self._expected = forward_passes(dims, patch, trainer.inference_allowed_mirroring_axes)
        elif message.startswith("Validation complete") and self._bar is not None:
            self._finish_case()
            self.stop()
            seconds = time.perf_counter() - self._started
            log.info("final validation: %d case(s), %d slices predicted and exported in %s (%.2f s per slice)",
                     self.cases, round(self.slices_done), _clock(seconds), seconds / max(self.slices_done, 1.0))

    def stop(self) -> None:
        """Remove the bar and the network hook (also after an interruption)."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _start(self, trainer: Any) -> None:
        from svseg.utils.progress import make_progress

        self._started = time.perf_counter()
        self._bar = make_progress()
        self._bar.start()
        self._task = self._bar.add_task("final validation", total=self.total_cases)
        self._hook = trainer.network.register_forward_hook(self._tile_done)

    def _tile_done(self, *_: Any) -> None:
        self._calls += 1
        if self._expected and self._calls <= self._expected:
            self.slices_done += self._case_slices / self._expected
            self._bar.update(self._task, completed=self.cases + self._calls / self._expected,
                             description=f"final validation, {self.slices_done:.0f} slices")

    def _finish_case(self) -> None:
        """The previous case is predicted: count it whole, whatever the tile estimate said."""
        if self._bar is None:
            return
        if self._expected:
            self.slices_done += self._case_slices * max(0, self._expected - self._calls) / self._expected
        self.cases += 1
        self._calls, self._expected, self._case_slices = 0, None, 0
        self._bar.update(self._task, completed=self.cases,
                         description=f"final validation, {self.slices_done:.0f} slices")


def _clock(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
