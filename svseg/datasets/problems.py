"""Collecting every problem with a dataset before reporting any.

A user fixing a dataset wants the whole list at once, not one error per run, so import and
validation gather :class:`Problem` records (file + what is wrong) and raise a single
:class:`DatasetProblemsError` at the end. Its message stays one line (the first problem and
how many more there are); the full list is logged and kept on the exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from svseg.errors import SvsegError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file (or folder) of a dataset."""

    path: Path | str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DatasetProblemsError(SvsegError):
    """A dataset has one or more problems; ``problems`` holds all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        first = " ".join(str(problems[0]).split())  # one line, whatever the message held
        more = len(problems) - 1
        suffix = f" (and {more} more problem{'s' if more != 1 else ''}, listed above)" if more else ""
        super().__init__(first + suffix)


class ProblemList:
    """An ordered list of problems that turns into one error when asked."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: Path | str, message: str) -> None:
        """Record that `path` has the problem described by `message`."""
        self.items.append(Problem(path, message))

    def extend(self, problems: list[Problem] | ProblemList) -> None:
        """Record several problems at once."""
        self.items.extend(problems.items if isinstance(problems, ProblemList) else problems)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self) -> None:
        """Log every problem when there are several, then raise one DatasetProblemsError (no-op when none).

        A single problem is the error line itself; logging it too would print it twice.
        """
        if not self.items:
            return
        for problem in self.items if len(self.items) > 1 else ():
            log.error("%s", problem)
        raise DatasetProblemsError(self.items)
