"""What a DICOM series says about itself (its modality), for naming the imported channel.

CT values are Hounsfield units, which nnU-Net normalises with dataset-wide percentiles when
the channel is named ``CT``; other modalities get per-image z-scores. Reading one header is
enough to choose, and saves the user a ``--channel-names CT``.
"""

from __future__ import annotations

from pathlib import Path

MODALITY_TAG = "0008|0060"


def series_modality(folder: Path) -> str | None:
    """The Modality tag (``CT``, ``MR`` ...) of the first DICOM series in `folder`, if readable."""
    import SimpleITK as sitk

    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
    if not files:
        return None
    reader = sitk.ImageFileReader()
    reader.SetFileName(files[0])
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None  # the scan reports unreadable series with the reason
    if not reader.HasMetaDataKey(MODALITY_TAG):
        return None
    return reader.GetMetaData(MODALITY_TAG).strip() or None
