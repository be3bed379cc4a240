"""The raw dataset's files, checked before fingerprinting and, when nnU-Net fails on one, named.

:func:`check_raw_dataset` runs before anything is written: dataset.json must be readable, hold
nnU-Net's keys and name no reader nnU-Net would look up by name
(:mod:`svseg.io.dataset_json_safety`), and every case's files must exist, open and not be empty.
It also returns the raw files' stamp (:func:`svseg.planning.fingerprint.raw_files_stamp`), so a
fingerprint or preprocessing made from files since edited is not reused.

A file that opens but that nnU-Net's reader cannot decode (a truncated PNG), or a label whose size
differs from its image's, only shows up inside nnU-Net's fingerprint workers as a traceback (or a
worker that died); :func:`first_bad_raw_file` then reads the cases one by one to name the file.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError
from svseg.io.dataset_json_safety import read_dataset_json
from svseg.paths import DatasetRef
from svseg.planning.fingerprint import raw_files_stamp
from svseg.utils.progress import track

log = logging.getLogger(__name__)

REQUIRED_KEYS = ("labels", "file_ending", "numTraining")


def check_raw_dataset(ref: DatasetRef) -> tuple[list[str], str]:
    """The raw dataset's case ids and the stamp of its files; a bad raw dataset is one line naming the file."""
    dataset_json = ref.raw_dir / "dataset.json"
    if not dataset_json.is_file():
        raise SvsegError(f"{dataset_json}: no raw dataset for {ref.folder_name} (import it first with svseg import)")
    description = read_dataset_json(dataset_json)
    missing = [key for key in REQUIRED_KEYS if key not in description]
    if "channel_names" not in description and "modality" not in description:
        missing.append("channel_names")
    if missing:
        raise SvsegError(f"{dataset_json}: missing key(s) {', '.join(missing)}")
    if not isinstance(description["file_ending"], str) or not isinstance(description["numTraining"], int):
        raise SvsegError(f"{dataset_json}: file_ending must be text and numTraining a whole number")
    cases = _cases(ref, description, dataset_json)
    for case_id, files in cases.items():
        for path in [*files["images"], files["label"]]:
            _check_readable(Path(path), case_id)
    if description["numTraining"] != len(cases):
        log.warning("%s: numTraining is %s but %d cases were found", dataset_json, description["numTraining"],
                    len(cases))
    raw_files = [path for files in cases.values() for path in [*files["images"], files["label"]]]
    return sorted(cases), raw_files_stamp([*raw_files, dataset_json], ref.raw_dir)


def _cases(ref: DatasetRef, description: dict[str, Any], dataset_json: Path) -> dict[str, dict[str, Any]]:
    """nnU-Net's case list (from imagesTr/labelsTr, or dataset.json's ``dataset`` entry)."""
    from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets

    try:
        cases = get_filenames_of_train_images_and_targets(str(ref.raw_dir), description)
    except FileNotFoundError as exc:
        raise SvsegError(f"{ref.raw_dir}: incomplete raw dataset ({exc})") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise SvsegError(f"{dataset_json}: its 'dataset' entry is not nnU-Net's {{case: {{images, label}}}} "
                         f"({type(exc).__name__}: {exc})") from None
    if not cases:
        raise SvsegError(f"{ref.raw_dir / 'imagesTr'}: no training images ending in {description['file_ending']}")
    return cases


def _check_readable(path: Path, case_id: str) -> None:
    """The file exists, opens and is not empty (a cheap check of every file before planning)."""
    if not path.is_file():
        raise SvsegError(f"{path}: file of case {case_id} is missing")
    try:
        with open(path, "rb") as handle:
            first = handle.read(1)
    except OSError as exc:
        raise SvsegError(f"{path}: file of case {case_id} cannot be read ({exc.strerror})") from None
    if not first:
        raise SvsegError(f"{path}: file of case {case_id} is empty (0 bytes)")


def first_bad_raw_file(ref: DatasetRef) -> str | None:
    """The first raw file nnU-Net's reader cannot read, or label not the size of its image, as a message line
    naming it; None when every case reads and fits.

    Reads every case in this process with the reader nnU-Net picks for the dataset's file ending:
    slow, so only used once fingerprinting has failed, to turn a worker's traceback into the file.
    """
    from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_dataset_json

    dataset_json = ref.raw_dir / "dataset.json"
    description = read_dataset_json(dataset_json)
    with contextlib.redirect_stdout(io.StringIO()):  # nnU-Net's readers print what they try
        reader = determine_reader_writer_from_dataset_json(description, None, verbose=False)
    cases = _cases(ref, description, dataset_json)
    for case_id in track(sorted(cases), "looking for the unreadable file"):
        problem = _case_problem(case_id, cases[case_id], reader)
        if problem is not None:
            return problem
    return None


def _case_problem(case_id: str, files: dict[str, Any], reader: type) -> str | None:
    """What is wrong with one case's files for nnU-Net's `reader` (None when nothing is)."""
    shapes = []
    for path, what in [*((image, "image") for image in files["images"]), (files["label"], "label")]:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                array = reader().read_seg(path)[0] if what == "label" else reader().read_images((path,))[0]
        except Exception as exc:
            return f"{path}: {what} of case {case_id} cannot be read by nnU-Net's {reader.__name__} ({_one_line(exc)})"
        shapes.append(tuple(array.shape[1:]))
        if shapes[-1] != shapes[0]:
            return (f"{path}: {what} of case {case_id} has size {' x '.join(map(str, shapes[-1]))} but its first "
                    f"image {' x '.join(map(str, shapes[0]))}; every file of a case must have the same size")
    return None


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line (SimpleITK's messages span several)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
