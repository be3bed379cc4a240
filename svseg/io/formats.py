"""File endings svseg understands, and how a file's stem is found."""

from __future__ import annotations

from pathlib import Path

IMAGE_2D_ENDINGS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VOLUME_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
SUPPORTED_ENDINGS = VOLUME_ENDINGS + IMAGE_2D_ENDINGS


def file_ending(path: Path | str) -> str:
    """The format ending in lower case, with ``.nii.gz`` treated as one ending ('' if unknown)."""
    name = Path(path).name.lower()
    for ending in SUPPORTED_ENDINGS:
        if name.endswith(ending):
            return ending
    return ""


def is_supported(path: Path | str) -> bool:
    """True for a file whose ending svseg can read (DICOM series are folders, handled apart)."""
    return file_ending(path) != ""


def stem_of(path: Path | str) -> str:
    """File name without its format ending (``a.nii.gz`` -> ``a``)."""
    path = Path(path)
    ending = file_ending(path)
    return path.name[: -len(ending)] if ending else path.stem


def is_volume_ending(ending: str) -> bool:
    """True for formats that carry 3D geometry (NIfTI, NRRD, MetaImage)."""
    return ending in VOLUME_ENDINGS
