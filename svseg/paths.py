"""Data folders and dataset names.

One root, ``SVSEG_HOME`` (default ``~/svseg_data``), holds ``raw/``, ``preprocessed/`` and
``results/``, each with nnU-Net's ``DatasetNNN_NAME`` folders. nnU-Net reads three environment
variables of its own; svseg sets them from its root, and honours them when the user has already
set them, so an existing nnU-Net installation keeps working unchanged.

A dataset is named on the command line by its name (``ATLAS``), its id (``1``, ``001``) or its
folder name (``Dataset001_ATLAS``); anything else, including names that would escape the data
root, is a :class:`~svseg.errors.SvsegError`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from svseg.errors import SvsegError
from svseg.nnunet_touchpoints import PATH_VARIABLES

HOME_ENV = "SVSEG_HOME"
DEFAULT_HOME = Path("~/svseg_data")
NNUNET_ENV = PATH_VARIABLES

_FOLDER_RE = re.compile(r"^Dataset(\d{3})_([A-Za-z0-9][A-Za-z0-9_\-]*)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def svseg_home() -> Path:
    """The data root: ``$SVSEG_HOME`` or ``~/svseg_data``."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()


def data_root(kind: str) -> Path:
    """Folder for ``raw``, ``preprocessed`` or ``results``; nnU-Net's variable wins when set."""
    if kind not in NNUNET_ENV:
        raise ValueError(f"unknown data root kind {kind!r}")
    from_env = os.environ.get(NNUNET_ENV[kind])
    return Path(from_env).expanduser().resolve() if from_env else svseg_home() / kind


def raw_root() -> Path:
    """Where raw datasets (nnU-Net layout + dataset.json) live."""
    return data_root("raw")


def preprocessed_root() -> Path:
    """Where fingerprints, plans and preprocessed arrays live."""
    return data_root("preprocessed")


def results_root() -> Path:
    """Where trained models live."""
    return data_root("results")


def export_nnunet_environment() -> dict[str, str]:
    """Set nnU-Net's three variables from svseg's roots (for this process and its workers).

    nnU-Net resolves them lazily, so calling this before any nnU-Net function is enough.
    Returns the values in force.
    """
    values = {}
    for kind, variable in NNUNET_ENV.items():
        folder = data_root(kind)
        os.environ[variable] = str(folder)
        values[variable] = str(folder)
    return values


@dataclass(frozen=True)
class DatasetRef:
    """A dataset's id and name, and its folder name in every data root."""

    dataset_id: int
    name: str

    @property
    def folder_name(self) -> str:
        """nnU-Net's folder name, e.g. ``Dataset001_ATLAS``."""
        return f"Dataset{self.dataset_id:03d}_{self.name}"

    @property
    def raw_dir(self) -> Path:
        """The raw dataset folder."""
        return raw_root() / self.folder_name

    @property
    def preprocessed_dir(self) -> Path:
        """The preprocessed dataset folder (fingerprint, plans, arrays)."""
        return preprocessed_root() / self.folder_name

    @property
    def results_dir(self) -> Path:
        """The folder holding this dataset's trained models."""
        return results_root() / self.folder_name


def check_dataset_name(name: str) -> str:
    """Return `name` if it can be a dataset name; letters, digits, ``_`` and ``-`` only.

    This is what keeps a name from escaping the data root (no ``/``, ``..`` or absolute paths).
    """
    if not _NAME_RE.match(name or ""):
        raise SvsegError(
            f"invalid dataset name {name!r}: use letters, digits, '_' and '-' only (no paths)"
        )
    return name


def known_datasets() -> list[DatasetRef]:
    """Every dataset found in the raw, preprocessed and results roots, sorted by id."""
    found: dict[str, DatasetRef] = {}
    for root in (raw_root(), preprocessed_root(), results_root()):
        if not root.is_dir():
            continue
        for child in root.iterdir():
            match = _FOLDER_RE.match(child.name)
            if match and child.is_dir():
                found[child.name] = DatasetRef(int(match.group(1)), match.group(2))
    return sorted(found.values(), key=lambda ref: (ref.dataset_id, ref.name))


def resolve_dataset(spec: str | int) -> DatasetRef:
    """Turn ``ATLAS``, ``1``, ``001`` or ``Dataset001_ATLAS`` into a known dataset.

    Raises SvsegError, listing the datasets that exist, when the spec matches none or several.
    """
    text = str(spec).strip()
    datasets = known_datasets()
    folder = _FOLDER_RE.match(text)
    if folder:
        matches = [ref for ref in datasets if ref.folder_name == text]
    elif text.isdigit():
        matches = [ref for ref in datasets if ref.dataset_id == int(text)]
    else:
        check_dataset_name(text)
        matches = [ref for ref in datasets if ref.name == text]
        if not matches:
            matches = [ref for ref in datasets if ref.name.lower() == text.lower()]
    existing = ", ".join(ref.folder_name for ref in datasets) or "none"
    if not matches:
        raise SvsegError(f"unknown dataset {text!r} under {raw_root()}; existing datasets: {existing}")
    if len(matches) > 1:
        raise SvsegError(f"dataset {text!r} is ambiguous: {', '.join(m.folder_name for m in matches)}")
    return matches[0]


def next_free_dataset_id(start: int = 1) -> int:
    """The lowest id >= `start` that no dataset in any root uses."""
    used = {ref.dataset_id for ref in known_datasets()}
    candidate = start
    while candidate in used:
        candidate += 1
    if candidate > 999:
        raise SvsegError("no free dataset id left (nnU-Net ids have three digits)")
    return candidate
