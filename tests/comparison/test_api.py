"""``svseg compare`` input checks, at the API and at the CLI edge (exit code 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from svseg.cli import app
from svseg.comparison.api import parse_archs
from svseg.errors import SvsegError

runner = CliRunner()


def test_archs_are_parsed_from_a_comma_list() -> None:
    assert parse_archs("svanet_tiny, unet") == ["svanet_tiny", "unet"]
    assert parse_archs(["unet"]) == ["unet"]


@pytest.mark.parametrize(("archs", "message"), [("", "at least one"), ("unet,nonet", "nonet"),
                                                 ("unet,unet", "twice")])
def test_bad_arch_lists_are_user_errors(archs: str, message: str) -> None:
    with pytest.raises(SvsegError, match=message):
        parse_archs(archs)


def test_unknown_dataset_exits_2_and_writes_nothing(isolated_data_root: Path) -> None:
    result = runner.invoke(app, ["compare", "-d", "Missing", "--archs", "svanet_tiny"])
    assert result.exit_code == 2
    assert "Missing" in result.output
    assert not any(isolated_data_root.rglob("comparison*"))


def test_unknown_arch_exits_2_before_any_work(isolated_data_root: Path) -> None:
    result = runner.invoke(app, ["compare", "-d", "Missing", "--archs", "svanet_tiny,nonet"])
    assert result.exit_code == 2
    assert "nonet" in result.output
