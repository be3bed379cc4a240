"""nnU-Net-style names (``CASE_0000.<ending>``): the grouping import and predict share, on files written here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from svseg.errors import SvsegError
from svseg.io.channel_files import (
    channel_groups,
    check_channel_numbers,
    describe_case,
    group_channel_files,
    split_channel_name,
)


def _pngs(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, name in enumerate(names):
        PILImage.fromarray(np.full((4, 5), index * 10, np.uint8)).save(folder / name)
        paths.append(folder / name)
    return paths


def test_channel_names_split_on_four_digits() -> None:
    assert split_channel_name(Path("brain_00_0003.nii.gz")) == ("brain_00", 3)
    assert split_channel_name(Path("scan_2019.png")) == ("scan", 2019)
    for name in ("brain_00.nii.gz", "a_001.png", "_0000.png", "a-0000.png"):
        assert split_channel_name(Path(name)) is None, name


def test_a_whole_folder_of_channel_files_groups_by_case_and_ending(tmp_path: Path) -> None:
    files = _pngs(tmp_path, "b_0001.png", "a_0000.png", "b_0000.png", "a_0000.bmp")
    groups = channel_groups(files)
    assert groups == {("a", ".png"): {0: files[1]}, ("b", ".png"): {0: files[2], 1: files[0]},
                      ("a", ".bmp"): {0: files[3]}}
    assert group_channel_files(files, 2) == {"a.png": [files[1]], "b.png": [files[2], files[0]],
                                             "a.bmp": [files[3]]}


def test_one_file_off_the_pattern_or_a_case_without_0000_keeps_files_apart(tmp_path: Path) -> None:
    assert channel_groups(_pngs(tmp_path / "odd", "a_0000.png", "notes.png")) is None
    assert channel_groups(_pngs(tmp_path / "no_first", "a_0000.png", "b_0001.png")) is None
    assert channel_groups([]) is None
    (tmp_path / "dir_0000.png").mkdir()
    assert channel_groups([tmp_path / "dir_0000.png"]) is None  # a folder is never a channel file


def test_a_single_case_with_more_files_than_channels_is_a_numbered_series(tmp_path: Path) -> None:
    frames = _pngs(tmp_path, *(f"frame_{i:04d}.png" for i in range(5)))
    assert channel_groups(frames) is not None  # the names alone would make one case
    assert group_channel_files(frames, 3) is None
    assert group_channel_files(frames, 5) == {"frame.png": frames}


def test_a_gap_in_the_numbers_is_refused_naming_the_case(tmp_path: Path) -> None:
    files = _pngs(tmp_path, "a_0000.png", "a_0002.png", "b_0000.png")
    groups = channel_groups(files)
    assert groups is not None
    message = r"a_NNNN\.png: case 'a' has channel files _0000, _0002; .* numbered _0000, _0001, \.\.\. without gaps"
    with pytest.raises(SvsegError, match=message):
        check_channel_numbers(groups)
    with pytest.raises(SvsegError, match=message):
        group_channel_files(files, 3)


def test_a_case_is_named_by_its_first_file_and_its_name(tmp_path: Path) -> None:
    files = tuple(_pngs(tmp_path, "x_0000.png", "x_0001.png"))
    assert describe_case(files) == f"{files[0]} (case 'x', 2 channel files)"
    assert describe_case(files[:1]) == f"{files[0]} (case 'x', 1 channel file)"
