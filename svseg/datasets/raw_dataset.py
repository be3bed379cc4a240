"""Listing the cases of an nnU-Net raw dataset folder the way nnU-Net itself finds them.

nnU-Net cuts case ids from ``CASE_NNNN<ending>`` names in ``imagesTr``/``imagesTs`` and expects
``labelsTr/CASE<ending>``; a dataset.json may instead list every case under a ``dataset`` key.
Files that nnU-Net would silently skip or mis-read (wrong ending, no ``_NNNN`` channel index,
a gap in the channel numbers) are reported as problems here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svseg.datasets.layouts import visible_entries
from svseg.datasets.problems import ProblemList


@dataclass(frozen=True)
class RawCase:
    """One case of a raw dataset: its channel files in order and its label (None when absent)."""

    case_id: str
    images: tuple[Path, ...]
    label: Path | None


def list_raw_cases(folder: Path, content: dict[str, Any], subset: str, problems: ProblemList) -> list[RawCase]:
    """The cases of ``images<subset>`` (``Tr`` or ``Ts``) with their labels from ``labels<subset>``."""
    if subset == "Tr" and isinstance(content.get("dataset"), dict):
        return _listed_cases(folder, content["dataset"], problems)
    ending = str(content.get("file_ending", ""))
    images_dir, labels_dir = folder / f"images{subset}", folder / f"labels{subset}"
    if not images_dir.is_dir():
        if subset == "Tr":
            problems.add(images_dir, "missing (nnU-Net needs imagesTr/)")
        return []
    channels = _group_channels(images_dir, ending, problems)
    labels = _labels_by_case(labels_dir, ending, problems)
    cases = []
    for case_id, files in sorted(channels.items()):
        indices = sorted(files)
        if indices != list(range(len(indices))):
            problems.add(files[indices[0]], f"case {case_id!r} has channels {indices}; expected 0..{len(indices) - 1}")
            continue
        cases.append(RawCase(case_id, tuple(files[i] for i in indices), labels.pop(case_id, None)))
    if subset == "Tr":
        for case_id, label in sorted(labels.items()):
            problems.add(label, f"label has no image {case_id}_0000{ending} in {images_dir.name}/")
    return cases


def _group_channels(images_dir: Path, ending: str, problems: ProblemList) -> dict[str, dict[int, Path]]:
    """case id -> channel index -> file, from ``CASE_NNNN<ending>`` names."""
    pattern = re.compile(r"^(.+)_(\d{4})" + re.escape(ending) + r"$")
    channels: dict[str, dict[int, Path]] = {}
    for entry in visible_entries(images_dir):
        match = pattern.match(entry.name)
        if entry.is_dir() or not ending or not match:
            problems.add(entry, f"not named CASE_0000{ending}, so nnU-Net would not read it as an image")
            continue
        channels.setdefault(match.group(1), {})[int(match.group(2))] = entry
    return channels


def _labels_by_case(labels_dir: Path, ending: str, problems: ProblemList) -> dict[str, Path]:
    """case id -> label file in ``labels_dir`` (empty when the folder does not exist)."""
    if not labels_dir.is_dir():
        return {}
    labels = {}
    for entry in visible_entries(labels_dir):
        if entry.is_dir() or not ending or not entry.name.endswith(ending):
            problems.add(entry, f"not a label file with the dataset's ending {ending!r}")
            continue
        labels[entry.name[: -len(ending)]] = entry
    return labels


def _listed_cases(folder: Path, listing: dict[str, Any], problems: ProblemList) -> list[RawCase]:
    """Cases from dataset.json's ``dataset`` key (paths relative to the folder, $VARS expanded)."""
    cases = []
    for case_id, entry in sorted(listing.items()):
        try:
            images = tuple(_resolve(folder, path) for path in entry["images"])
            label = _resolve(folder, entry["label"])
        except (KeyError, TypeError):
            problems.add(folder / "dataset.json", f"'dataset' entry {case_id!r} needs 'images' (list) and 'label'")
            continue
        cases.append(RawCase(str(case_id), images, label))
    return cases


def _resolve(folder: Path, path: str) -> Path:
    expanded = Path(os.path.expandvars(str(path)))
    return expanded if expanded.is_absolute() else folder / expanded
