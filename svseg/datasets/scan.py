"""Reading every source case once, before anything is written, and collecting what is wrong.

The scan learns everything the import needs (what each source file holds, 2D or 3D, the
values found in masks) and gathers every problem (unreadable files, NaN intensities, size or
geometry that differs between image and mask, values that cannot be labels) so the user gets
the full list in one run and nothing is written when any exists. From what it learned the
import decides the dataset-wide channel rule (:func:`svseg.io.channel_rule.decide_rule`);
:func:`check_consistency` and :func:`check_rule` then report the cases that do not fit it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svseg.datasets.case_reader import Channel, read_case_label, read_case_sources
from svseg.datasets.convert import output_ending
from svseg.datasets.labels import mask_values, value_problems
from svseg.datasets.pairing import CaseSource
from svseg.datasets.problems import ProblemList
from svseg.errors import SvsegError
from svseg.io.channel_rule import ChannelRule, case_channel_count, plan_case
from svseg.io.source_files import SourceInfo
from svseg.utils.progress import track

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScannedCase:
    """What the scan learned about one case: each image file's summary, 2D or 3D, its mask's values."""

    case: CaseSource
    sources: tuple[SourceInfo, ...]
    is_volume: bool
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
        channels, sources = read_case_sources(case.images)
    except SvsegError as exc:
        path = _named_path(exc, case.images)
        problems.add(path, _without_path(exc, path))
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
    return ScannedCase(case=case, sources=tuple(sources), is_volume=reference.is_volume, label_values=values,
                       palette=palette)


def check_consistency(scanned: list[ScannedCase], rule: ChannelRule, problems: ProblemList) -> None:
    """2D/3D and channel counts under the dataset's `rule` must agree across cases."""
    if not scanned:
        return
    _report_odd_ones(scanned, lambda item: item.is_volume, lambda value: "a 3D volume" if value else "a 2D image",
                     problems)
    _report_odd_ones(scanned, lambda item: case_channel_count(rule.colour, item.sources),
                     lambda value: f"{value} channel(s)", problems)


def check_rule(scanned: list[ScannedCase], rule: ChannelRule, problems: ProblemList) -> None:
    """Every case must map under the final `rule` (with channel names: ``rgb_to_0_1`` needs 8-bit pixels)."""
    for item in scanned:
        try:
            plan_case(rule, item.sources)
        except SvsegError as exc:
            path = _named_path(exc, item.case.images)
            problems.add(path, _without_path(exc, path))


def dataset_ending(scanned: list[ScannedCase], rule: ChannelRule) -> str:
    """One file ending for the whole dataset (TIFF wins over PNG when any 2D file needs it)."""
    endings = {output_ending(rule, item.sources) for item in scanned}
    if ".nii.gz" in endings:
        return ".nii.gz"
    return ".tif" if ".tif" in endings else ".png"


def _report_odd_ones(scanned: list[ScannedCase], key: Callable[[ScannedCase], object],
                     describe: Callable[[object], str], problems: ProblemList) -> None:
    """Report every case whose `key` differs from the most common value."""
    counts = Counter(key(item) for item in scanned)
    if len(counts) < 2:
        return
    usual = counts.most_common(1)[0][0]
    example = next(item for item in scanned if key(item) == usual)
    for item in scanned:
        value = key(item)
        if value != usual:
            problems.add(
                item.case.images[0],
                f"is {describe(value)} but {counts[usual]} other case(s) are {describe(usual)} "
                f"(e.g. {example.case.images[0].name}); all cases must agree",
            )


def _channels_agree(channels: list[Channel], problems: ProblemList) -> bool:
    """The channel files of one case must share size and geometry."""
    reference = channels[0]
    for channel in channels[1:]:
        differences = reference.image.geometry_matches(channel.image)
        if differences:
            problems.add(channel.source, f"channel does not match {reference.source.name}: {'; '.join(differences)}")
            return False
    return True


def _named_path(exc: SvsegError, paths: tuple[Path, ...]) -> Path:
    """The file among `paths` that the error message starts with (the first one otherwise)."""
    return next((path for path in paths if str(exc).startswith(f"{path}: ")), paths[0])


def _without_path(exc: SvsegError, path: Path) -> str:
    """The error message without a leading ``path: `` (the Problem names the path itself)."""
    message = str(exc)
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message
