"""Recognising which of the supported folder layouts a source folder uses.

People keep their data in a handful of shapes; svseg recognises them from folder names and
file endings alone, before reading any pixels, so a wrong folder fails in milliseconds:

* ``paired-2d``: ``images/`` + ``labels/`` (or ``masks/`` ...) with PNG/JPG/BMP/TIFF files;
* ``paired-volumes``: the same two folders with NIfTI/NRRD/MetaImage volumes;
* ``dicom-series``: ``images/<case>/`` folders, one DICOM series each, labels as files or series;
* ``msd``: a Medical Segmentation Decathlon task (``dataset.json`` with a ``training`` list);
* ``nnunet-raw``: an nnU-Net v2 raw dataset (``dataset.json`` with ``channel_names``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from svseg.datasets.dataset_json import load_json
from svseg.errors import SvsegError
from svseg.io.formats import IMAGE_2D_ENDINGS, VOLUME_ENDINGS, file_ending

log = logging.getLogger(__name__)

IMAGE_DIR_NAMES = ("images", "image", "imgs", "img")
LABEL_DIR_NAMES = ("labels", "label", "masks", "mask", "segmentations", "seg", "gt", "ground_truth", "annotations")


class LayoutKind(str, Enum):
    """The source layouts svseg can import (values are written into dataset.json)."""

    PAIRED_2D = "paired-2d"
    PAIRED_VOLUMES = "paired-volumes"
    DICOM = "dicom-series"
    MSD = "msd"
    NNUNET_RAW = "nnunet-raw"


@dataclass(frozen=True)
class Layout:
    """A detected layout: its kind and the folders that hold images and labels."""

    kind: LayoutKind
    root: Path
    images_dir: Path
    labels_dir: Path | None


def visible_entries(folder: Path) -> list[Path]:
    """Entries of `folder` in name order, without hidden files (``.DS_Store``, macOS ``._x``)."""
    return sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))


def detect_layout(source: Path) -> Layout:
    """Work out how `source` is organised; raise SvsegError naming the folder when it is none of the layouts."""
    source = Path(source).expanduser()
    if not source.exists():
        raise SvsegError(f"{source}: no such folder")
    if not source.is_dir():
        raise SvsegError(f"{source}: not a folder; give the folder that holds images/ and labels/")
    if (source / "dataset.json").is_file() and (source / "imagesTr").is_dir():
        return _decathlon_or_nnunet(source)
    if not visible_entries(source):
        raise SvsegError(f"{source}: folder is empty")
    images_dir = _child_named(source, IMAGE_DIR_NAMES)
    labels_dir = _child_named(source, LABEL_DIR_NAMES)
    if images_dir is None:
        raise SvsegError(
            f"{source}: no images/ folder (nor dataset.json + imagesTr/); see docs/datasets.md for the layouts"
        )
    if labels_dir is None:
        raise SvsegError(f"{source}: no labels/ or masks/ folder next to {images_dir.name}/")
    kind = _paired_kind(images_dir)
    log.info("layout of %s: %s", source, kind.value)
    return Layout(kind, source, images_dir, labels_dir)


def _decathlon_or_nnunet(source: Path) -> Layout:
    """MSD tasks list their cases under ``training``; nnU-Net v2 datasets name channels instead."""
    content = load_json(source / "dataset.json")
    labels_dir = source / "labelsTr" if (source / "labelsTr").is_dir() else None
    if "training" in content and "channel_names" not in content:
        kind = LayoutKind.MSD
    else:
        kind = LayoutKind.NNUNET_RAW
    log.info("layout of %s: %s", source, kind.value)
    return Layout(kind, source, source / "imagesTr", labels_dir)


def _child_named(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The sub-folder whose lower-case name comes first in `names`, if any."""
    children = {entry.name.lower(): entry for entry in visible_entries(folder) if entry.is_dir()}
    for name in names:
        if name in children:
            return children[name]
    return None


def _paired_kind(images_dir: Path) -> LayoutKind:
    """2D, volumes or DICOM, from what ``images/`` holds (folders mean DICOM series)."""
    entries = visible_entries(images_dir)
    if not entries:
        raise SvsegError(f"{images_dir}: folder is empty")
    folders = [entry for entry in entries if entry.is_dir()]
    files = [entry for entry in entries if not entry.is_dir()]
    if folders and files:
        raise SvsegError(
            f"{images_dir}: holds both files and folders; use image files, or one DICOM series folder per case"
        )
    if folders:
        return LayoutKind.DICOM
    endings = {file_ending(entry) for entry in files} - {""}
    if not endings:
        raise SvsegError(f"{images_dir}: no image files (supported: PNG, JPG, BMP, TIFF, NIfTI, NRRD, MHA/MHD)")
    flat = sorted(endings & set(IMAGE_2D_ENDINGS))
    volumes = sorted(endings & set(VOLUME_ENDINGS))
    if flat and volumes:
        raise SvsegError(
            f"{images_dir}: mixes 2D images ({', '.join(flat)}) and volumes ({', '.join(volumes)}); import them apart"
        )
    return LayoutKind.PAIRED_2D if flat else LayoutKind.PAIRED_VOLUMES
