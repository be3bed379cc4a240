"""Collecting problems into one one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from svseg.datasets.problems import DatasetProblemsError, Problem, ProblemList
from svseg.errors import SvsegError


def test_one_line_message_with_the_count_of_the_others() -> None:
    problems = ProblemList()
    problems.raise_if_any()  # nothing to report
    problems.add(Path("a.png"), "first\nproblem")
    problems.add(Path("b.png"), "second")
    problems.add(Path("c.png"), "third")
    with pytest.raises(SvsegError) as error:
        problems.raise_if_any()
    assert str(error.value) == "a.png: first problem (and 2 more problems, listed above)"
    assert isinstance(error.value, DatasetProblemsError) and len(error.value.problems) == 3


def test_a_single_problem_has_no_count() -> None:
    assert str(DatasetProblemsError([Problem("x", "broken")])) == "x: broken"
