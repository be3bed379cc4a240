"""Readers and writers for every format svseg accepts, keeping geometry exact.

Importing this package turns off ITK's warning printout once for the process: GDCM prints
"GDCMSeriesFileNames ... No Series were found" to the terminal whenever svseg asks whether a
folder holds a DICOM series and it does not, which is an answer, not a problem. Real failures
still raise (and svseg turns them into one-line errors naming the file).
"""

import SimpleITK as _sitk

from svseg.io.formats import (
    IMAGE_2D_ENDINGS,
    SUPPORTED_ENDINGS,
    VOLUME_ENDINGS,
    file_ending,
    is_supported,
    stem_of,
)
from svseg.io.image import Image
from svseg.io.readers import check_exists, read_dicom_series, read_image, read_mask
from svseg.io.writers import write_image, write_mask_like

_sitk.ProcessObject.SetGlobalWarningDisplay(False)

__all__ = [
    "IMAGE_2D_ENDINGS",
    "SUPPORTED_ENDINGS",
    "VOLUME_ENDINGS",
    "Image",
    "check_exists",
    "file_ending",
    "is_supported",
    "read_dicom_series",
    "read_image",
    "read_mask",
    "stem_of",
    "write_image",
    "write_mask_like",
]
