"""Importing a dataset that is already in nnU-Net's raw layout.

It is validated as is, then either registered in place (it already sits under the raw root
with a ``DatasetNNN_NAME`` folder name, so nothing needs writing) or copied byte for byte under
the new id and name, with dataset.json gaining svseg's provenance record. Files listed through
dataset.json's ``dataset`` key are copied under standard ``imagesTr``/``labelsTr`` names.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from svseg.datasets.dataset_json import load_json, provenance
from svseg.datasets.layouts import LayoutKind
from svseg.datasets.problems import ProblemList
from svseg.datasets.raw_dataset import RawCase, list_raw_cases
from svseg.datasets.target import ImportResult, claim_target
from svseg.datasets.validate import ValidationReport, validate_folder
from svseg.errors import SvsegError
from svseg.paths import DatasetRef, raw_root
from svseg.utils.fs import atomic_copy, atomic_directory, atomic_write_json
from svseg.utils.progress import track

log = logging.getLogger(__name__)

_FOLDER_RE = re.compile(r"^Dataset(\d{3})_(.+)$")


def import_raw_dataset(source: Path, name: str, dataset_id: int | None) -> ImportResult:
    """Validate an nnU-Net raw dataset, then register it in place or copy it in as `name`."""
    report = validate_folder(source)
    report.raise_for_problems()
    in_place = _registered_ref(source)
    if in_place is not None:
        if name != in_place.name or dataset_id not in (None, in_place.dataset_id):
            raise SvsegError(f"{source}: already registered as {in_place.folder_name}; "
                             f"use -n {in_place.name} (and no other --id)")
        log.info("%s is already under the raw root; registered in place", source)
        return _result(in_place, source, report, in_place=True)
    target = claim_target(name, dataset_id)
    content = load_json(source / "dataset.json")
    problems = ProblemList()
    training = list_raw_cases(source, content, "Tr", problems)
    test = list_raw_cases(source, content, "Ts", problems)
    problems.raise_if_any()  # validation passed, so this only guards against a race with the user
    with atomic_directory(target.raw_dir) as folder:
        ending = content["file_ending"]
        for case in track(training, f"copying {target.folder_name}"):
            _copy_case(case, folder, "Tr", ending)
        for case in test:
            _copy_case(case, folder, "Ts", ending)
        atomic_write_json(folder / "dataset.json", _updated_json(content, source, target.name))
    return _result(target, target.raw_dir, report, in_place=False)


def _registered_ref(source: Path) -> DatasetRef | None:
    """The dataset `source` already is, when it sits directly under the raw root."""
    match = _FOLDER_RE.match(source.name)
    if match is None or source.resolve().parent != raw_root():
        return None
    return DatasetRef(int(match.group(1)), match.group(2))


def _copy_case(case: RawCase, folder: Path, subset: str, ending: str) -> None:
    """Copy a case's files (bytes unchanged) under nnU-Net's standard names."""
    for index, image in enumerate(case.images):
        atomic_copy(image, folder / f"images{subset}" / f"{case.case_id}_{index:04d}{ending}")
    if case.label is not None:
        atomic_copy(case.label, folder / f"labels{subset}" / f"{case.case_id}{ending}")


def _updated_json(content: dict[str, Any], source: Path, name: str) -> dict[str, Any]:
    """The source dataset.json renamed, with channel_names (not legacy modality) and provenance."""
    updated = {key: value for key, value in content.items() if key not in ("dataset", "modality", "svseg")}
    updated["name"] = name
    updated.setdefault("channel_names", content.get("modality"))
    earlier = content.get("svseg") if isinstance(content.get("svseg"), dict) else {}
    kept = {key: value for key, value in earlier.items() if key not in ("created", "svseg_version")}
    updated["svseg"] = provenance({**kept, "source": str(source), "layout": LayoutKind.NNUNET_RAW.value})
    return updated


def _result(ref: DatasetRef, folder: Path, report: ValidationReport, in_place: bool) -> ImportResult:
    return ImportResult(
        ref=ref, folder=folder, layout=LayoutKind.NNUNET_RAW.value, num_training=report.num_training,
        num_test=report.num_test, labels=report.labels, channel_names=report.channel_names,
        file_ending=report.file_ending, in_place=in_place,
    )
