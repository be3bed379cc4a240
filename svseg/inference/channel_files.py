"""Reading a folder named the nnU-Net way (``CASE_0000.nii.gz``, ``CASE_0001.nii.gz``) as cases.

nnU-Net's ``imagesTs`` holds one file per case and input channel, named ``CASE_NNNN.<ending>``,
and its masks are named ``CASE.<ending>``. A user who predicts such a folder expects masks that
``svseg evaluate`` pairs with ``labelsTs``, and a multi-modality case to be one input of several
channels. A plain folder of numbered images (``frame_0000.png`` ... ``frame_0099.png``) must
keep working as before, one mask per file, so the convention is recognised only when the whole
folder follows it (see :func:`group_channel_files` and docs/prediction.md).
"""

from __future__ import annotations

import re
from pathlib import Path

from svseg.errors import SvsegError
from svseg.io import file_ending, stem_of

_CHANNEL_SUFFIX = re.compile(r"(?P<case>.+)_(?P<channel>\d{4})")


def group_channel_files(sources: list[Path], num_channels: int) -> dict[str, list[Path]] | None:
    """The folder's files as ``{case name + ending: channel files in order}``, or None when not nnU-Net-style.

    The folder is nnU-Net-style when every entry is a file named ``CASE_NNNN.<ending>`` (four
    digits) and every case has a ``_0000`` file. A single case with more files than the model
    has channels (`num_channels`; a file holds at least one) is a numbered series, not a case,
    and keeps one mask per file. Raises SvsegError when a case's files skip a number.
    """
    groups: dict[tuple[str, str], dict[int, Path]] = {}
    for source in sources:
        match = _CHANNEL_SUFFIX.fullmatch(stem_of(source)) if source.is_file() else None
        if match is None:
            return None
        groups.setdefault((match["case"], file_ending(source)), {})[int(match["channel"])] = source
    if not groups or any(0 not in files for files in groups.values()):
        return None
    if len(groups) == 1 and len(next(iter(groups.values()))) > num_channels:
        return None
    for (case, ending), files in groups.items():
        if sorted(files) != list(range(len(files))):
            found = ", ".join(f"_{c:04d}" for c in sorted(files))
            raise SvsegError(f"{files[0].parent / (case + '_NNNN' + ending)}: case {case!r} has channel files "
                             f"{found}; nnU-Net-style channel files are numbered _0000, _0001, ... without gaps")
    return {case + ending: [files[c] for c in sorted(files)] for (case, ending), files in groups.items()}


def describe_case(files: tuple[Path, ...]) -> str:
    """How an error names a multi-file case: its first file, the case name and its channel files."""
    case = _CHANNEL_SUFFIX.fullmatch(stem_of(files[0]))
    name = case["case"] if case is not None else stem_of(files[0])
    return f"{files[0]} (case {name!r}, {len(files)} channel file{'s' if len(files) != 1 else ''})"
