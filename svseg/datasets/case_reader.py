"""Reading one case's source files for the import, through svseg.io's channel rule.

The import reads every case twice: once in the scan, as the files hold them (before the
dataset-wide rule exists, since it depends on every case), and once when writing, through
:func:`svseg.io.channel_rule.apply_rule` with the rule the scan decided. Predict applies the
same rule to its inputs, so a model sees new images exactly as it saw its training images.

nnU-Net wants one file per channel for volumes (``_0000``, ``_0001`` ...) but keeps a 2D RGB
image in a single file whose reader returns three channels, so a Channel is one output file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from svseg.io import Image, read_mask
from svseg.io.channel_rule import ChannelRule, apply_rule
from svseg.io.source_files import Channel, SourceInfo, describe_source, read_source

__all__ = ["Channel", "read_case_images", "read_case_label", "read_case_sources"]


def read_case_sources(paths: Sequence[Path]) -> tuple[list[Channel], list[SourceInfo]]:
    """A case's channels as its files hold them (palette expanded, alpha dropped, 4D split) and each file's summary."""
    channels: list[Channel] = []
    infos: list[SourceInfo] = []
    for path in paths:
        file_channels = read_source(Path(path))
        channels.extend(file_channels)
        infos.append(describe_source(Path(path), file_channels))
    return channels, infos


def read_case_images(rule: ChannelRule, paths: Sequence[Path]) -> list[Channel]:
    """A case's channels under the dataset's `rule`, one per output file, in order.

    Warnings (dropped transparency) were given by the scan, which read the same files first.
    """
    return apply_rule(rule, [Path(path) for path in paths], warn=False)


def read_case_label(path: Path) -> Image:
    """A case's mask: a single-channel file, a palette PNG (indices kept) or a DICOM series folder."""
    return read_mask(path)
