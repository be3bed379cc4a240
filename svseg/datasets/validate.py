"""Checking an nnU-Net raw dataset before nnU-Net (or a long training run) trips over it.

Every case is read: each image must have a label of the same size and geometry, labels must be
whole numbers within the declared set, files must be readable and non-empty, every case must
have the number of channels dataset.json declares, and there must be at least two training cases
(nnU-Net's cross-validation needs them). All problems are collected, each naming its file, so one
run lists everything to fix. ``svseg import`` runs the same check on the dataset it builds before
moving it into place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svseg.datasets.dataset_json import declared_label_values, load_json
from svseg.datasets.labels import mask_values, value_problems
from svseg.datasets.problems import DatasetProblemsError, Problem, ProblemList
from svseg.datasets.raw_dataset import RawCase, list_raw_cases
from svseg.errors import SvsegError
from svseg.io import read_image, read_mask
from svseg.io.dataset_json_safety import check_dataset_json_is_data
from svseg.paths import DatasetRef, resolve_dataset
from svseg.utils.progress import track

log = logging.getLogger(__name__)

NNUNET_READABLE_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".mha", ".gipl", ".png", ".bmp", ".tif", ".tiff")
"""Endings some nnU-Net 2.8 reader accepts (``imageio/reader_writer_registry.LIST_OF_IO_CLASSES``)."""

REQUIRED_KEYS = ("channel_names", "labels", "numTraining", "file_ending")


@dataclass
class ValidationReport:
    """What validation found: the dataset's size and declarations, and every problem."""

    folder: Path
    num_training: int = 0
    num_test: int = 0
    labels: dict[str, Any] = field(default_factory=dict)
    channel_names: dict[str, str] = field(default_factory=dict)
    file_ending: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise one DatasetProblemsError (first problem + count) when anything is wrong."""
        if self.problems:
            for problem in self.problems:
                log.error("%s", problem)
            raise DatasetProblemsError(self.problems)


def validate_dataset(spec: str | int | DatasetRef) -> ValidationReport:
    """Validate a registered raw dataset (name, id or folder name); raises on any problem."""
    ref = spec if isinstance(spec, DatasetRef) else resolve_dataset(spec)
    if not ref.raw_dir.is_dir():
        raise SvsegError(f"{ref.raw_dir}: no raw dataset folder for {ref.folder_name}")
    report = validate_folder(ref.raw_dir)
    report.raise_for_problems()
    return report


def validate_folder(folder: Path) -> ValidationReport:
    """Check the raw dataset in `folder` and report every problem (raises nothing for bad data)."""
    folder = Path(folder)
    report = ValidationReport(folder)
    problems = ProblemList()
    json_path = folder / "dataset.json"
    try:
        content = load_json(json_path)
        check_dataset_json_is_data(content, json_path)  # nnU-Net looks its reader field up by name
    except SvsegError as exc:
        report.problems.append(Problem(json_path, str(exc).removeprefix(f"{json_path}: ")))
        return report
    declared = _check_dataset_json(content, json_path, problems)
    report.labels = dict(content.get("labels") or {})
    report.channel_names = dict(content.get("channel_names") or content.get("modality") or {})
    report.file_ending = str(content.get("file_ending", ""))
    if declared is not None:
        num_channels, label_values = declared
        training = list_raw_cases(folder, content, "Tr", problems)
        test = list_raw_cases(folder, content, "Ts", problems)
        report.num_training, report.num_test = len(training), len(test)
        _check_counts(content, training, folder, json_path, problems)
        work = [(case, True) for case in training] + [(case, False) for case in test]
        for case, needs_label in track(work, "validating cases"):
            _check_case(case, num_channels, label_values, problems, needs_label=needs_label)
    report.problems = problems.items
    return report


def _check_dataset_json(
    content: dict[str, Any], json_path: Path, problems: ProblemList
) -> tuple[int, list[int]] | None:
    """Check nnU-Net's keys; returns (channel count, allowed label values) when usable."""
    if "channel_names" not in content and "modality" in content:
        content = {**content, "channel_names": content["modality"]}
    missing = [key for key in REQUIRED_KEYS if key not in content]
    if missing:
        problems.add(json_path, f"missing keys: {', '.join(missing)}")
        return None
    start = len(problems)
    ending = content["file_ending"]
    if ending not in NNUNET_READABLE_ENDINGS:
        problems.add(json_path, f"file_ending {ending!r} cannot be read by nnU-Net "
                                f"(use one of {', '.join(NNUNET_READABLE_ENDINGS)})")
    channels = content["channel_names"]
    if not isinstance(channels, dict) or sorted(channels) != [str(i) for i in range(len(channels))] or not channels:
        problems.add(json_path, "channel_names must map \"0\", \"1\" ... to names")
    if not isinstance(content["numTraining"], int):
        problems.add(json_path, "numTraining must be an integer")
    label_values = _check_labels(content["labels"], content, json_path, problems)
    if len(problems) > start or label_values is None:
        return None
    return len(channels), label_values


def _check_labels(labels: Any, content: dict[str, Any], json_path: Path, problems: ProblemList) -> list[int] | None:
    """Labels: name -> int (or list of ints for regions), background 0, consecutive values."""
    if not isinstance(labels, dict) or labels.get("background") != 0:
        problems.add(json_path, "labels must be a name -> value map with \"background\": 0")
        return None
    for name, value in labels.items():
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(item, int) and not isinstance(item, bool) for item in items):
            problems.add(json_path, f"label {name!r} has value {value!r}; use an integer (or a list for regions)")
            return None
    if any(isinstance(value, list) for value in labels.values()) and "regions_class_order" not in content:
        problems.add(json_path, "labels use regions (lists) but regions_class_order is missing")
    values = declared_label_values(labels)
    if values != list(range(len(values))):
        problems.add(json_path, f"label values must be consecutive 0, 1, 2 ...; got {values}")
        return None
    return values


def _check_counts(content: dict[str, Any], training: list[RawCase], folder: Path, json_path: Path,
                  problems: ProblemList) -> None:
    if content["numTraining"] != len(training):
        problems.add(json_path, f"numTraining is {content['numTraining']} but {len(training)} training cases exist")
    if len(training) < 2:
        problems.add(folder / "imagesTr",
                     f"needs at least 2 training cases for cross-validation, found {len(training)}")


def _check_case(case: RawCase, num_channels: int, label_values: list[int], problems: ProblemList,
                needs_label: bool) -> None:
    """Read one case and check channels, label presence, geometry and label values."""
    images = []
    for path in case.images:
        try:
            images.append(read_image(path))
        except SvsegError as exc:
            problems.add(path, str(exc).removeprefix(f"{path}: "))
            return
    # a palette PNG holds indices for svseg but nnU-Net's reader expands it to RGB
    found = sum(3 if image.palette is not None else image.num_channels for image in images)
    if found != num_channels:
        problems.add(case.images[0], f"case {case.case_id!r} has {found} channel(s) but dataset.json declares "
                                     f"{num_channels}")
    for path, image in zip(case.images[1:], images[1:], strict=True):
        differences = images[0].geometry_matches(image)
        if differences:
            problems.add(path, f"does not match {case.images[0].name}: {'; '.join(differences)}")
    if case.label is None:
        if needs_label:
            problems.add(case.images[0], f"missing label for case {case.case_id!r} in labelsTr/")
        return
    _check_label(case, images[0], label_values, problems)


def _check_label(case: RawCase, reference, label_values: list[int], problems: ProblemList) -> None:
    label_path = case.label
    try:
        mask = read_mask(label_path)
    except SvsegError as exc:
        problems.add(label_path, str(exc).removeprefix(f"{label_path}: "))
        return
    if mask.palette is not None:
        problems.add(label_path, "palette (indexed-colour) PNG: nnU-Net's reader turns it into RGB colours; "
                                 "store the label values as a grey PNG (svseg import does this)")
        return
    differences = reference.geometry_matches(mask)
    if differences:
        problems.add(label_path, f"does not match image {case.images[0].name}: {'; '.join(differences)}")
    values = mask_values(mask.array)
    issues = value_problems(values, is_volume=True, declared_count=len(label_values))
    if issues:
        problems.add(label_path, "; ".join(issues))
        return
    unknown = sorted({int(v) for v in values} - set(label_values))
    if unknown:
        problems.add(label_path, f"label values {unknown[:5]} are not declared in dataset.json "
                                 f"(allowed: {label_values[0]}..{label_values[-1]})")
