"""A dataset.json is data: the one field nnU-Net turns into code is allow-listed wherever svseg reads one.

nnU-Net 2.8.1 reads ``overwrite_image_reader_writer`` from a dataset.json
(``imageio/reader_writer_registry.determine_reader_writer_from_dataset_json``) and hands it to
``recursive_find_python_class``, which imports every module of ``nnunetv2.imageio`` and returns
the first attribute of that name, whatever it is; nnU-Net then calls it. Fingerprinting, planning,
nnU-Net's dataset check and its evaluation all do this with the raw dataset.json, and planning and
training copy the file unchanged into the preprocessed and model folders. Every other key nnU-Net
reads from it (channel names, labels, file ending, numTraining, regions) is only compared, counted
or indexed.

svseg reads each dataset.json it hands on (a source being imported, the raw dataset, the
preprocessed one, a model folder's) through :func:`read_dataset_json`, or checks a dict it got
elsewhere with :func:`check_dataset_json_is_data`, before nnU-Net sees it; nothing is imported
while checking.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError

READER_WRITERS = frozenset(
    {"NaturalImage2DIO", "SimpleITKIO", "SimpleITKIOWithReorient", "Tiff3DIO", "NibabelIO", "NibabelIOWithReorient"}
)
"""The reader/writer classes of nnU-Net 2.8.1's ``nnunetv2.imageio`` (what a dataset.json or plans may name)."""
READER_FIELD = "overwrite_image_reader_writer"
NO_OVERRIDE = "None"
"""nnU-Net's own spelling of "no override" in that field (``generate_dataset_json`` writes it so)."""


def check_dataset_json_is_data(content: Any, path: Path | str) -> None:
    """Refuse a dataset.json (read from `path`) that is not an object or names a reader nnU-Net would look up.

    Raises SvsegError ``"<path>: overwrite_image_reader_writer = ... is not one of ..."``.
    """
    if not isinstance(content, dict):
        raise SvsegError(f"{path}: a dataset.json must hold a JSON object, got {type(content).__name__}")
    if READER_FIELD not in content:
        return
    value = content[READER_FIELD]
    if isinstance(value, str) and (value in READER_WRITERS or value == NO_OVERRIDE):
        return
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    raise SvsegError(f"{path}: {READER_FIELD} = {shown} is not one of nnU-Net's readers "
                     f"({', '.join(sorted(READER_WRITERS))}); refusing to look it up")


def read_dataset_json(path: Path | str) -> dict[str, Any]:
    """The dataset.json at `path`, checked by :func:`check_dataset_json_is_data`; any problem is one line."""
    path = Path(path)
    if not path.is_file():
        raise SvsegError(f"{path}: dataset.json not found")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or not UTF-8
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise SvsegError(f"{path}: not valid JSON ({reason})") from None
    check_dataset_json_is_data(content, path)
    return content
