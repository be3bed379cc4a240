"""Progress bars for long work, in one place.

Bars are rich progress bars; they stay silent when stderr is not a terminal (CI logs, pipes)
or when the user asked for quiet output, so logs are not flooded with redraws.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

_QUIET_ENV = "SVSEG_QUIET"


def progress_enabled() -> bool:
    """True when bars should be drawn: stderr is a terminal and quiet mode is off."""
    return sys.stderr.isatty() and os.environ.get(_QUIET_ENV, "") not in {"1", "true", "yes"}


def set_quiet(quiet: bool) -> None:
    """Switch bars off for this process and the workers it spawns."""
    if quiet:
        os.environ[_QUIET_ENV] = "1"


def make_progress(transient: bool = False) -> Progress:
    """A rich Progress with description, bar, count, elapsed and remaining time."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not progress_enabled(),
        transient=transient,
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over `items` with a progress bar (silent when bars are off)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with make_progress() as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


@contextmanager
def folder_progress(folder: Path, pattern: str, total: int, description: str,
                    interval: float = 0.5) -> Iterator[Progress]:
    """A bar counting files matching `pattern` in `folder` while the block runs.

    For work done by another library's worker processes that report nothing back (nnU-Net's
    preprocessing writes one ``CASE.pkl`` per finished case): a thread polls the folder every
    `interval` seconds. No thread runs when bars are off.
    """

    def count() -> int:
        return sum(1 for _ in folder.glob(pattern)) if folder.is_dir() else 0

    stop = threading.Event()
    with make_progress() as progress:
        task = progress.add_task(description, total=total)

        def watch() -> None:
            while not stop.wait(interval):
                progress.update(task, completed=count())

        watcher = threading.Thread(target=watch, name="svseg-folder-progress", daemon=True)
        if progress_enabled():
            watcher.start()
        try:
            yield progress
        finally:
            stop.set()
            if watcher.is_alive():
                watcher.join()
            progress.update(task, completed=count())
