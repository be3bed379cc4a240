"""Pairing image files (or DICOM folders) with their label files by name.

An image ``images/a.png`` pairs with ``labels/a.png`` or ``labels/a.tif``: stems must match,
endings may differ. Label files named with a common suffix (``a_mask.png``, ``a_seg.nii.gz``,
``a_segmentation.png`` ...) pair too, because that is how many public datasets ship. Every
problem (two files with one stem, an image without label, a label without image, a symbolic link
that loops or points nowhere) is collected, not raised, so the user sees all of them at once.

Images named the nnU-Net way (``CASE_0000.nii.gz`` .. ``CASE_0003.nii.gz``, one file per
modality) whose masks are named after the case (``CASE.nii.gz``) are one case of several
channels, grouped by the rule predict uses (:mod:`svseg.io.channel_files`); masks named after
each file (``frame_0000.png``) keep one case per file.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from svseg.datasets.layouts import visible_entries
from svseg.datasets.problems import ProblemList
from svseg.errors import SvsegError
from svseg.io.channel_files import channel_groups, channel_number_problem, ordered_files
from svseg.io.formats import file_ending, stem_of
from svseg.io.readers import check_exists

log = logging.getLogger(__name__)

LABEL_SUFFIXES = ("_segmentation", "_mask", "_masks", "_seg", "_label", "_labels", "_gt", "-mask", "-seg", "-label")
DATA_COMPANIONS = (".raw", ".zraw", ".gz")
"""Pixel-data files that MetaImage (.mhd) and detached NRRD (.nhdr) headers point to."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CaseSource:
    """Where one case comes from: its image file(s), one per channel group, and its label.

    ``label`` is None for a test image without a mask; ``test`` puts the case in ``imagesTs``.
    """

    case_id: str
    images: tuple[Path, ...]
    label: Path | None
    test: bool = False


def safe_case_id(stem: str) -> str:
    """A case id nnU-Net handles everywhere: letters, digits, ``.``, ``_`` and ``-`` only."""
    return _UNSAFE.sub("_", stem).strip("_") or "case"


def index_items(folder: Path, problems: ProblemList, *, folders: bool) -> tuple[dict[str, Path], set[str]]:
    """Map stem -> file (or sub-folder name -> folder when `folders`), and the stems held twice.

    Clashing stems (``a.png`` and ``a.tif``) are reported and left out of the map.
    """
    by_stem: dict[str, list[Path]] = {}
    for entry in visible_entries(folder):
        unopenable = _unopenable(entry)
        if unopenable is not None:  # a looping or dangling link is neither an image nor a folder: say so
            problems.add(entry, unopenable)
            continue
        if entry.is_dir():
            if not folders:
                log.warning("%s: sub-folder ignored", entry)
                continue
            stem = entry.name
        elif not file_ending(entry):
            if entry.suffix.lower() not in DATA_COMPANIONS:
                log.warning("%s: not an image file, ignored", entry)
            continue
        else:
            stem = stem_of(entry)
        by_stem.setdefault(stem, []).append(entry)
    index, clashing = {}, set()
    for stem, entries in by_stem.items():
        if len(entries) > 1:
            names = ", ".join(entry.name for entry in entries)
            problems.add(entries[0], f"duplicate stem {stem!r} in {folder.name}/: {names}; keep one file per case")
            clashing.add(stem)
            continue
        index[stem] = entries[0]
    return index, clashing


def _unopenable(entry: Path) -> str | None:
    """Why the symbolic link `entry` cannot be followed (a loop, a missing target), or None."""
    if not entry.is_symlink():
        return None
    try:
        check_exists(entry)
    except SvsegError as exc:
        return str(exc).removeprefix(f"{entry}: ")
    return None


def pair_cases(
    images_dir: Path,
    labels_dir: Path,
    problems: ProblemList,
    *,
    dicom: bool = False,
    unlabelled_as_test: bool = False,
) -> list[CaseSource]:
    """Match every image (or nnU-Net-style group of channel files) with its label.

    Images without a label become test cases only when asked.
    """
    images, _ = index_items(images_dir, problems, folders=dicom)
    labels, clashing_labels = index_items(labels_dir, problems, folders=dicom)
    label_for = _label_lookup(labels)
    grouped = _channel_cases(images, label_for, problems) if not dicom else None
    sources = grouped if grouped is not None else {stem: (image,) for stem, image in images.items()}
    cases: list[CaseSource] = []
    used_labels: set[Path] = set()
    seen_ids: dict[str, Path] = {}
    for stem, files in sorted(sources.items()):
        if not files:  # channel files already reported; their label is not an orphan
            if stem in label_for:
                used_labels.add(label_for[stem])
            continue
        case_id = safe_case_id(stem)
        if case_id in seen_ids:
            problems.add(files[0], f"case id {case_id!r} clashes with {seen_ids[case_id].name}; rename one of them")
            continue
        seen_ids[case_id] = files[0]
        label = label_for.get(stem)
        if stem in clashing_labels:
            continue  # already reported as a duplicate label
        if label is None and not unlabelled_as_test:
            problems.add(
                files[0],
                f"missing label for {_what(stem, files)} (no {stem}.* in {labels_dir.name}/); "
                "add it, or pass --unlabelled-as-test to import such images as test images",
            )
            continue
        if label is not None:
            used_labels.add(label)
        cases.append(CaseSource(case_id, files, label, test=label is None))
    for label in sorted(set(labels.values()) - used_labels):
        problems.add(label, f"label {label.name} has no image in {images_dir.name}/ with the same name")
    return cases


def _channel_cases(images: dict[str, Path], label_for: dict[str, Path],
                   problems: ProblemList) -> dict[str, tuple[Path, ...]] | None:
    """Case name -> channel files when the folder is nnU-Net-style and its masks are named after the cases.

    The masks decide between the two readings of ``x_0000.png``, ``x_0001.png``: a mask
    ``x.png`` (and none named after a file) makes them one case of two channels, masks
    ``x_0000.png`` and ``x_0001.png`` two cases. None keeps one case per file; a case whose
    numbers skip one is reported and has no files.
    """
    groups = channel_groups(images.values())
    if groups is None or any(stem in label_for for stem in images):
        return None
    if not any(case in label_for for case, _ in groups):
        return None
    cases: dict[str, tuple[Path, ...]] = {}
    for (case, ending), files in sorted(groups.items()):
        problem = channel_number_problem(case, ending, files)
        if problem is not None:
            problems.add(*problem)
        # one ending per case: a second would repeat the stem CASE_0000, a duplicate already left out
        cases[case] = tuple(ordered_files(files)) if problem is None else ()
    return cases


def _what(stem: str, files: tuple[Path, ...]) -> str:
    """``image a.png``, or ``case 'x' (x_0000.nii.gz, x_0001.nii.gz ...)`` for channel files."""
    if stem_of(files[0]) == stem:
        return f"image {files[0].name}"
    return f"case {stem!r} ({', '.join(file.name for file in files[:2])}{' ...' if len(files) > 2 else ''})"


def _label_lookup(labels: dict[str, Path]) -> dict[str, Path]:
    """Stem -> label, where the stem may also be the label's stem without a known suffix."""
    lookup: dict[str, Path] = {}
    for stem, path in labels.items():
        for suffix in LABEL_SUFFIXES:
            if stem.lower().endswith(suffix) and len(stem) > len(suffix):
                lookup.setdefault(stem[: -len(suffix)], path)
    lookup.update(labels)  # exact names win over suffix-stripped ones
    return lookup
