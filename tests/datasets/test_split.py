"""Holding cases out as test cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from svseg.datasets.pairing import CaseSource
from svseg.datasets.split import assign_test_cases, parse_case_list
from svseg.errors import SvsegError


def _cases(n: int, unlabelled: int = 0) -> list[CaseSource]:
    labelled = [CaseSource(f"c{i}", (Path(f"c{i}.png"),), Path(f"l{i}.png")) for i in range(n)]
    return labelled + [CaseSource(f"u{i}", (Path(f"u{i}.png"),), None, test=True) for i in range(unlabelled)]


def test_fraction_is_seeded_and_only_takes_labelled_cases() -> None:
    first = assign_test_cases(_cases(10, unlabelled=2), test_fraction=0.3)
    again = assign_test_cases(_cases(10, unlabelled=2), test_fraction=0.3)
    chosen = [c.case_id for c in first if c.test and c.label is not None]
    assert len(chosen) == 3 and chosen == [c.case_id for c in again if c.test and c.label is not None]


def test_small_fraction_still_holds_out_one_case() -> None:
    assert sum(c.test for c in assign_test_cases(_cases(3), test_fraction=0.05)) == 1


def test_names_from_a_list_or_a_file(tmp_path: Path) -> None:
    listing = tmp_path / "test.txt"
    listing.write_text("# held out\nc1\nc3, c4\n")
    assert parse_case_list(str(listing)) == ["c1", "c3", "c4"]
    assert parse_case_list("c1,c2") == ["c1", "c2"]
    chosen = assign_test_cases(_cases(5), test_cases=listing)
    assert [c.case_id for c in chosen if c.test] == ["c1", "c3", "c4"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_fraction": 1.0}, "below 1"),
        ({"test_fraction": -0.1}, "at least 0"),
        ({"test_fraction": 0.2, "test_cases": "c1"}, "not both"),
        ({"test_cases": "c1,zz"}, "zz"),
    ],
)
def test_bad_split_options(kwargs: dict, message: str) -> None:
    with pytest.raises(SvsegError, match=message):
        assign_test_cases(_cases(4), **kwargs)
