"""Reading every source case once, before anything is written, and collecting what is wrong.

The scan decides everything the import needs (channel count, 2D or 3D, output format, the
values found in masks) and gathers every problem (unreadable files, size or geometry that
differs between image and mask, values that cannot be labels) so the user gets the full list
in one run and nothing is written when any exists.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svseg.datasets.case_reader import Channel, read_case_images, read_case_label
from svseg.datasets.convert import output_ending
from svseg.datasets.labels import mask_values, value_problems
from svseg.datasets.pairing import CaseSource
from svseg.datasets.problems import ProblemList
from svseg.errors import SvsegError
from svseg.utils.progress import track

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScannedCase:
    """What the scan learned about one case."""

    case: CaseSource
    num_channels: int
    is_volume: bool
    ending: str
    rgb_8bit: bool
    label_values: np.ndarray | None
    palette: list[tuple[int, ...]] | None


def scan_cases(cases: list[CaseSource], problems: ProblemList, declared_count: int | None) -> list[ScannedCase]:
    """Scan every case; the ones with problems are reported in `problems` and left out."""
    scanned = []
    for case in track(cases, "checking source files"):
        result = scan_case(case, problems, declared_count)
        if result is not None:
            scanned.append(result)
    return scanned


def scan_case(case: CaseSource, problems: ProblemList, declared_count: int | None) -> ScannedCase | None:
    """Read one case's images and mask and check them against each other."""
    try:
        channels = read_case_images(case.images)
    except SvsegError as exc:
        problems.add(case.images[0], _without_path(exc, case.images[0]))
        return None
    if not _channels_agree(channels, problems):
        return None
    reference = channels[0].image
    values = palette = None
    if case.label is not None:
        try:
            mask = read_case_label(case.label)
        except SvsegError as exc:
            problems.add(case.label, _without_path(exc, case.label))
            return None
        differences = reference.geometry_matches(mask)
        if differences:
            problems.add(case.label, f"does not match image {case.images[0].name}: {'; '.join(differences)}")
            return None
        values = mask_values(mask.array)
        issues = value_problems(values, is_volume=mask.is_volume, declared_count=declared_count,
                                indexed=mask.palette is not None)
        if issues:
            problems.add(case.label, "; ".join(issues))
            return None
        if values.size == 1 and values[0] == 0:
            log.warning("%s: mask is empty (background only)", case.label)
        palette = mask.palette
    return ScannedCase(
        case=case,
        num_channels=sum(channel.num_channels for channel in channels),
        is_volume=reference.is_volume,
        ending=output_ending(channels),
        rgb_8bit=reference.num_channels == 3 and reference.array.dtype == np.uint8,
        label_values=values,
        palette=palette,
    )


def check_consistency(scanned: list[ScannedCase], problems: ProblemList) -> None:
    """Channel counts, 2D/3D and pixel formats must agree across cases; at least 2 training cases."""
    if not scanned:
        return
    for attribute, describe in (
        ("is_volume", lambda value: "a 3D volume" if value else "a 2D image"),
        ("num_channels", lambda value: f"{value} channel(s)"),
    ):
        _report_odd_ones(scanned, attribute, describe, problems)


def _report_odd_ones(scanned: list[ScannedCase], attribute: str, describe, problems: ProblemList) -> None:
    """Report every case whose `attribute` differs from the most common value."""
    counts = Counter(getattr(item, attribute) for item in scanned)
    if len(counts) < 2:
        return
    usual = counts.most_common(1)[0][0]
    example = next(item for item in scanned if getattr(item, attribute) == usual)
    for item in scanned:
        value = getattr(item, attribute)
        if value != usual:
            problems.add(
                item.case.images[0],
                f"is {describe(value)} but {counts[usual]} other case(s) are {describe(usual)} "
                f"(e.g. {example.case.images[0].name}); all cases must agree",
            )


def dataset_ending(scanned: list[ScannedCase]) -> str:
    """One file ending for the whole dataset (TIFF wins over PNG when any 2D case needs it)."""
    endings = {item.ending for item in scanned}
    if ".nii.gz" in endings:
        return ".nii.gz"
    return ".tif" if ".tif" in endings else ".png"


def _channels_agree(channels: list[Channel], problems: ProblemList) -> bool:
    """The channel files of one case must share size and geometry."""
    reference = channels[0]
    for channel in channels[1:]:
        differences = reference.image.geometry_matches(channel.image)
        if differences:
            problems.add(channel.source, f"channel does not match {reference.source.name}: {'; '.join(differences)}")
            return False
    return True


def _without_path(exc: SvsegError, path: Path) -> str:
    """The error message without a leading ``path: `` (the Problem names the path itself)."""
    message = str(exc)
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message
