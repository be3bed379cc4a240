"""Where an import goes (dataset id and folder) and what it produced.

Dataset names must be unique across ids (``-d ATLAS`` must resolve to one dataset) and ids
unique across names, in every data root, because nnU-Net finds preprocessed data and results by
id. Both are checked before any file is read, so a clash fails at once and writes nothing; so is
the raw root, which must be writable. An import builds its dataset in a ``.partial`` folder under
the raw root and renames it into place; claiming a target also removes the ``.partial`` folders
of imports that were killed (only those no live import is writing, see svseg/utils/fs.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from svseg.errors import SvsegError
from svseg.paths import DatasetRef, check_dataset_name, known_datasets, next_free_dataset_id, raw_root
from svseg.utils.fs import check_writable_dir, remove_stale_temporaries


@dataclass(frozen=True)
class ImportResult:
    """A finished import: the dataset, its folder and what it holds."""

    ref: DatasetRef
    folder: Path
    layout: str
    num_training: int
    num_test: int
    labels: dict[str, int]
    channel_names: dict[str, str]
    file_ending: str
    label_mapping: dict[str, int] = field(default_factory=dict)
    in_place: bool = False

    def summary(self) -> list[str]:
        """Short lines for a terminal: folder, case counts, labels, channels."""
        how = "registered in place" if self.in_place else f"imported from a {self.layout} folder"
        return [
            f"{self.ref.folder_name} ({how}): {self.folder}",
            f"cases: {self.num_training} training, {self.num_test} test ({self.file_ending})",
            "labels: " + ", ".join(f"{name}={value}" for name, value in self.labels.items()),
            "channels: " + ", ".join(f"{index}={name}" for index, name in self.channel_names.items()),
        ]


def claim_target(name: str, dataset_id: int | None) -> DatasetRef:
    """The DatasetRef a new import will create: a valid unused name and a free (or given) id."""
    check_dataset_name(name)
    existing = known_datasets()
    for ref in existing:
        if ref.name.lower() == name.lower():
            raise SvsegError(f"{ref.raw_dir}: dataset {name!r} already exists as {ref.folder_name}; "
                             "choose another name with -n")
    if dataset_id is None:
        dataset_id = next_free_dataset_id()
    elif not 1 <= dataset_id <= 999:
        raise SvsegError(f"--id {dataset_id}: dataset ids run from 1 to 999 (nnU-Net uses three digits)")
    for ref in existing:
        if ref.dataset_id == dataset_id:
            raise SvsegError(f"{ref.raw_dir}: dataset id {dataset_id} is already used by {ref.folder_name}; "
                             "leave out --id to take the next free one")
    target = DatasetRef(dataset_id, name)
    if target.raw_dir.exists():
        raise SvsegError(f"{target.raw_dir}: already exists")
    check_writable_dir(raw_root(), "raw data")
    remove_stale_temporaries(raw_root())
    return target
