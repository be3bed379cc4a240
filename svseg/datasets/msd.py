"""Reading a Medical Segmentation Decathlon task folder.

An MSD task has ``imagesTr/``, ``labelsTr/``, ``imagesTs/`` and a dataset.json that lists
``training`` pairs and ``test`` images, names its ``modality`` channels and maps label values to
names (``{"0": "background", "1": "edema"}``). Multi-modal images are 4D NIfTI files (split
into channels by :mod:`case_reader`). Tasks converted by nnU-Net v1 list ``x.nii.gz`` but store
``x_0000.nii.gz`` ...; both are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from svseg.datasets.dataset_json import load_json
from svseg.datasets.pairing import CaseSource, safe_case_id
from svseg.datasets.problems import ProblemList
from svseg.io.formats import stem_of


@dataclass(frozen=True)
class DecathlonTask:
    """The cases, label names (label order) and channel names an MSD dataset.json declares."""

    cases: list[CaseSource]
    label_names: list[str] | None
    channel_names: list[str] | None


def read_decathlon_task(root: Path, problems: ProblemList) -> DecathlonTask:
    """List an MSD task's cases from its dataset.json; missing files are collected as problems."""
    json_path = root / "dataset.json"
    content = load_json(json_path)
    cases: list[CaseSource] = []
    training = content.get("training")
    if not isinstance(training, list):
        problems.add(json_path, "'training' must be a list of {\"image\": ..., \"label\": ...}")
        training = []
    for entry in training:
        if not isinstance(entry, dict) or "image" not in entry or "label" not in entry:
            problems.add(json_path, f"training entry {entry!r} needs 'image' and 'label'")
            continue
        case = _case(root, entry["image"], entry["label"], problems, json_path)
        if case is not None:
            cases.append(case)
    for entry in content.get("test", []) or []:
        image = entry.get("image") if isinstance(entry, dict) else entry
        case = _case(root, str(image), None, problems, json_path)
        if case is not None:
            cases.append(case)
    return DecathlonTask(
        cases=cases,
        label_names=_ordered_names(content.get("labels"), "labels", json_path, problems),
        channel_names=_ordered_names(content.get("modality"), "modality", json_path, problems),
    )


def _case(root: Path, image: str, label: str | None, problems: ProblemList, json_path: Path) -> CaseSource | None:
    """One case; its image is the listed file, or the listed name's ``_0000``.. channel files."""
    image_path = (root / image).resolve()
    images = [image_path] if image_path.is_file() else _channel_files(image_path)
    if not images:
        problems.add(image_path, f"listed in {json_path.name} but missing")
        return None
    label_path = None
    if label is not None:
        label_path = (root / label).resolve()
        if not label_path.exists():
            problems.add(label_path, f"listed in {json_path.name} but missing")
            return None
    return CaseSource(safe_case_id(stem_of(image_path)), tuple(images), label_path, test=label is None)


def _channel_files(listed: Path) -> list[Path]:
    """``x_0000.nii.gz``, ``x_0001.nii.gz`` ... next to the listed ``x.nii.gz`` (nnU-Net v1 tasks)."""
    stem, ending = stem_of(listed), listed.name[len(stem_of(listed)):]
    files = []
    while (candidate := listed.with_name(f"{stem}_{len(files):04d}{ending}")).is_file():
        files.append(candidate)
    return files


def _ordered_names(mapping: object, key: str, json_path: Path, problems: ProblemList) -> list[str] | None:
    """``{"0": "a", "1": "b"}`` -> ``["a", "b"]``; keys must be 0..N-1."""
    if mapping is None:
        return None
    if not isinstance(mapping, dict) or not mapping:
        problems.add(json_path, f"'{key}' must map \"0\", \"1\" ... to names")
        return None
    try:
        by_index = {int(index): str(name) for index, name in mapping.items()}
    except ValueError:
        problems.add(json_path, f"'{key}' keys must be integers, got {sorted(mapping)}")
        return None
    if sorted(by_index) != list(range(len(by_index))):
        problems.add(json_path, f"'{key}' keys must be 0..{len(by_index) - 1}, got {sorted(by_index)}")
        return None
    return [by_index[index] for index in range(len(by_index))]
