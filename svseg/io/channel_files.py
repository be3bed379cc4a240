"""Reading a folder named the nnU-Net way (``CASE_0000.nii.gz``, ``CASE_0001.nii.gz``) as cases.

nnU-Net holds one file per case and input channel, named ``CASE_NNNN.<ending>``, and its masks
are named ``CASE.<ending>``. A user who keeps four MRI modalities this way means one case of
four channels, both when importing training cases and when predicting new ones, so import
(:mod:`svseg.datasets.pairing`) and predict (:mod:`svseg.inference.inputs`) read such a folder
through the same functions here. A plain folder of numbered images (``frame_0000.png`` ...
``frame_0099.png``) must keep working as one case per file, so the convention is recognised
only when the whole folder follows it (:func:`channel_groups`); predict then tells a numbered
series from one case by the model's channel count (:func:`group_channel_files`), import by the
names of the masks (a mask ``CASE.<ending>`` for the case, not ``CASE_0000.<ending>`` per file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from svseg.errors import SvsegError
from svseg.io.formats import file_ending, stem_of

_CHANNEL_SUFFIX = re.compile(r"(?P<case>.+)_(?P<channel>\d{4})")

ChannelGroups = dict[tuple[str, str], dict[int, Path]]
"""``(case name, ending) -> {channel number: file}``."""


def split_channel_name(path: Path) -> tuple[str, int] | None:
    """``("brain_00", 1)`` for ``brain_00_0001.nii.gz``; None for a name without a four-digit channel suffix."""
    match = _CHANNEL_SUFFIX.fullmatch(stem_of(path))
    return (match["case"], int(match["channel"])) if match is not None else None


def channel_groups(sources: Iterable[Path]) -> ChannelGroups | None:
    """The files grouped by case, or None when the folder does not follow nnU-Net's naming as a whole.

    It does when every entry is a file named ``CASE_NNNN.<ending>`` (four digits) and every case
    has a ``_0000`` file. Gaps in the numbers are not checked here (:func:`check_channel_numbers`).
    """
    groups: ChannelGroups = {}
    for source in sources:
        parts = split_channel_name(source) if source.is_file() else None
        if parts is None:
            return None
        groups.setdefault((parts[0], file_ending(source)), {})[parts[1]] = source
    if not groups or any(0 not in files for files in groups.values()):
        return None
    return groups


def channel_number_problem(case: str, ending: str, files: dict[int, Path]) -> tuple[Path, str] | None:
    """The path naming the case and why its channel numbers skip one (None when they run 0, 1, 2 ...)."""
    if sorted(files) == list(range(len(files))):
        return None
    found = ", ".join(f"_{c:04d}" for c in sorted(files))
    return (files[0].parent / (case + "_NNNN" + ending),
            f"case {case!r} has channel files {found}; nnU-Net-style channel files are numbered _0000, _0001, ... "
            "without gaps")


def check_channel_numbers(groups: ChannelGroups) -> None:
    """Raise SvsegError naming the first case whose channel files skip a number."""
    for (case, ending), files in groups.items():
        problem = channel_number_problem(case, ending, files)
        if problem is not None:
            raise SvsegError(f"{problem[0]}: {problem[1]}")


def ordered_files(files: dict[int, Path]) -> list[Path]:
    """A case's channel files in channel order."""
    return [files[channel] for channel in sorted(files)]


def group_channel_files(sources: list[Path], num_channels: int) -> dict[str, list[Path]] | None:
    """The folder's files as ``{case name + ending: channel files in order}``, or None when not nnU-Net-style.

    See :func:`channel_groups`. A single case with more files than the model has channels
    (`num_channels`; a file holds at least one) is a numbered series, not a case, and keeps one
    mask per file. Raises SvsegError when a case's files skip a number.
    """
    groups = channel_groups(sources)
    if groups is None:
        return None
    if len(groups) == 1 and len(next(iter(groups.values()))) > num_channels:
        return None
    check_channel_numbers(groups)
    return {case + ending: ordered_files(files) for (case, ending), files in groups.items()}


def describe_case(files: tuple[Path, ...]) -> str:
    """How an error names a multi-file case: its first file, the case name and its channel files."""
    parts = split_channel_name(files[0])
    name = parts[0] if parts is not None else stem_of(files[0])
    return f"{files[0]} (case {name!r}, {len(files)} channel file{'s' if len(files) != 1 else ''})"
