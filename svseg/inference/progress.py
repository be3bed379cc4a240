"""The prediction bar: cases and slices done, with rate and ETA (silent off a terminal or under -q).

A volume can take minutes on a CPU, so counting cases alone would leave the bar still for that
long. The predictor reports each batch of tiles as its share of the slices being predicted
(:attr:`svseg.inference.predictor.SvsegPredictor.on_slices`), so the slice bar moves within a case.
The slice total grows as each case is read (its slice count is known only then).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TypeVar

from svseg.utils.progress import make_progress

T = TypeVar("T")


class PredictionProgress:
    """Two bars, cases and slices; use as a context manager around the prediction loop."""

    def __init__(self, n_cases: int) -> None:
        self._progress = make_progress()
        self._cases = self._progress.add_task("predicting cases", total=n_cases)
        self._slices = self._progress.add_task("slices", total=0)
        self._slices_total = 0

    def __enter__(self) -> PredictionProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._progress.stop()

    def cases(self, items: Iterable[T]) -> Iterator[T]:
        """Iterate over the cases, counting each one done when the loop body returns to the next."""
        for item in items:
            yield item
            self._progress.advance(self._cases)

    def add_slices(self, count: int) -> None:
        """A case with `count` slices was read: the slice total grows by it."""
        self._slices_total += int(count)
        self._progress.update(self._slices, total=self._slices_total)

    def slices_predicted(self, count: float) -> None:
        """The predictor finished `count` (possibly fractional) slices' worth of tiles."""
        self._progress.advance(self._slices, count)
