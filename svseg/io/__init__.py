"""Readers and writers for every format svseg accepts, keeping geometry exact."""

from svseg.io.formats import (
    IMAGE_2D_ENDINGS,
    SUPPORTED_ENDINGS,
    VOLUME_ENDINGS,
    file_ending,
    is_supported,
    stem_of,
)
from svseg.io.image import Image
from svseg.io.readers import read_dicom_series, read_image, read_mask
from svseg.io.writers import write_image, write_mask_like

__all__ = [
    "IMAGE_2D_ENDINGS",
    "SUPPORTED_ENDINGS",
    "VOLUME_ENDINGS",
    "Image",
    "file_ending",
    "is_supported",
    "read_dicom_series",
    "read_image",
    "read_mask",
    "stem_of",
    "write_image",
    "write_mask_like",
]
