"""The held-out cases of a raw dataset a model is scored on, staged as plain image and reference folders.

Used by ``svseg compare`` and ``svseg demo`` alike (here, in the import stage that set the test
split aside, so neither imports the other).

Why staging: the held-out cases are a subset of the raw dataset's images (validation cases sit
among the training images), and ``svseg predict`` reads whole folders. Copying the chosen cases'
channel files unchanged to ``images/CASE_NNNN.<ending>`` and their masks to ``labels/CASE.<ending>``
gives a folder in nnU-Net's layout, which ``svseg predict`` reads as one case per ``CASE`` (channel
files stacked, mask named ``CASE.<ending>``), so prediction and evaluation run exactly as they would
for a user's own ``imagesTs``. The raw dataset is only read.

Which cases: the dataset's test split (``imagesTs``/``labelsTs``, set aside at import) when it
has one, because no fold ever trained on it; otherwise the validation cases of the fold, read
from nnU-Net's ``splits_final.json``.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from svseg.errors import SvsegError
from svseg.io.formats import stem_of
from svseg.utils.fs import atomic_copy

log = logging.getLogger(__name__)

CHANNEL_SUFFIX = "_0000"


@dataclass(frozen=True)
class StagedCases:
    """Images to predict and the references to score them against, one file per case each."""

    images_dir: Path
    labels_dir: Path
    case_ids: tuple[str, ...]
    source: str

    @property
    def num_cases(self) -> int:
        """How many cases are staged."""
        return len(self.case_ids)


def held_out_case_ids(raw_dir: Path, preprocessed_dir: Path, fold: int | str) -> tuple[list[str], str]:
    """The case ids to score and where they come from (``test`` or ``validation fold k``)."""
    test_labels = raw_dir / "labelsTs"
    if test_labels.is_dir() and any(test_labels.iterdir()):
        return sorted(stem_of(path) for path in test_labels.iterdir() if not path.name.startswith(".")), "test"
    splits_path = preprocessed_dir / "splits_final.json"
    if str(fold) == "all" or not splits_path.is_file():
        raise SvsegError(f"{raw_dir}: no test split (labelsTs) and no validation split for fold {fold} "
                         f"({splits_path}); import with --test-fraction or train a numbered fold first")
    splits = json.loads(splits_path.read_text(encoding="utf-8"))
    if not 0 <= int(fold) < len(splits):
        raise SvsegError(f"{splits_path}: fold {fold} does not exist ({len(splits)} folds)")
    return sorted(splits[int(fold)]["val"]), f"validation fold {fold}"


def stage_cases(raw_dir: Path, case_ids: list[str], source: str, target: Path) -> StagedCases:
    """Copy the cases' channel files (names kept) and masks under ``target``; replaces it."""
    ending = _file_ending(raw_dir)
    split = "Ts" if source == "test" else "Tr"
    if target.exists():
        shutil.rmtree(target)
    for case in case_ids:
        channels = sorted((raw_dir / f"images{split}").glob(f"{case}_[0-9][0-9][0-9][0-9]{ending}"))
        if not channels or channels[0].name != f"{case}{CHANNEL_SUFFIX}{ending}":
            raise SvsegError(f"{raw_dir / f'images{split}'}: case {case!r} has no image file "
                             f"{case}{CHANNEL_SUFFIX}{ending}")
        for channel in channels:
            atomic_copy(channel, target / "images" / channel.name)
        atomic_copy(raw_dir / f"labels{split}" / f"{case}{ending}", target / "labels" / f"{case}{ending}")
    log.info("staged %d %s case(s) in %s", len(case_ids), source, target)
    return StagedCases(target / "images", target / "labels", tuple(case_ids), source)


def _file_ending(raw_dir: Path) -> str:
    dataset_json = raw_dir / "dataset.json"
    try:
        return str(json.loads(dataset_json.read_text(encoding="utf-8"))["file_ending"])
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise SvsegError(f"{dataset_json}: cannot read the dataset's file_ending ({exc})") from None
