"""Reading images, volumes and masks into :class:`~svseg.io.image.Image`.

Volumes (NIfTI, NRRD, MetaImage) and DICOM series go through SimpleITK, which keeps spacing,
origin and direction exactly; 2D images go through Pillow (PNG, JPG, BMP) and tifffile (TIFF),
which keep bit depth and palettes. Every failure becomes one SvsegError naming the file.

Inputs are read whole or refused: SimpleITK reads a NIfTI file that ends early (a copy cut
short) without complaint and fills the missing voxels with 0, so NIfTI files are first checked
against their header, and for NaN, which SimpleITK's NIfTI reader turns into 0
(:mod:`svseg.io.nifti_check`). NRRD and MetaImage readers already fail on short data.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

import numpy as np

from svseg.errors import SvsegError
from svseg.io.formats import file_ending, is_volume_ending
from svseg.io.image import Image
from svseg.io.lossy_masks import binarise_lossy, is_lossy_mask
from svseg.io.metaimage_check import METAIMAGE_ENDINGS, check_metaimage
from svseg.io.nifti_check import check_nifti

_NIFTI_ENDINGS = (".nii", ".nii.gz")


def check_exists(path: Path) -> None:
    """Raise SvsegError naming `path` when it cannot be opened: missing, or a symbolic link loop."""
    try:
        path.stat()
    except FileNotFoundError:
        raise SvsegError(f"{path}: no such file or folder") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SvsegError(f"{path}: symbolic link loop (following the link leads back to it)") from None
        raise SvsegError(f"{path}: cannot be opened ({exc.strerror})") from None


def read_image(path: Path | str) -> Image:
    """Read any supported file (or a DICOM series folder) with its geometry."""
    path = Path(path)
    check_exists(path)
    if path.is_dir():
        return read_dicom_series(path)
    ending = file_ending(path)
    if not ending:
        raise SvsegError(f"{path}: unsupported file type (supported: NIfTI, NRRD, MHA/MHD, PNG, JPG, BMP, TIFF)")
    if path.stat().st_size == 0:
        raise SvsegError(f"{path}: file is empty")
    try:
        if is_volume_ending(ending):
            return _read_sitk(path, ending)
        if ending in (".tif", ".tiff"):
            return _read_tiff(path, ending)
        return _read_pillow(path, ending)
    except SvsegError:
        raise
    except Exception as exc:  # any decoder failure is a bad file, reported as such
        raise SvsegError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None


def read_mask(path: Path | str) -> Image:
    """Read a label file; palette PNGs keep their indices, and the array must be single-channel.

    RGB masks whose three channels are equal are reduced to one channel (some tools save grey
    masks as RGB). Masks in a lossy format (JPEG) are read as the 0/255 masks they were drawn as,
    or refused (:mod:`svseg.io.lossy_masks`).
    """
    image = read_image(path)
    if image.num_channels > 1:
        array = image.array
        grey = np.all(array[..., :3] == array[..., :1])
        constant_alpha = array.shape[-1] == 3 or np.all(array[..., 3] == array[..., 3].flat[0])
        if grey and constant_alpha:
            image.array = np.ascontiguousarray(array[..., 0])
        else:
            raise SvsegError(
                f"{image.source}: mask has {image.num_channels} colour channels; store labels as a "
                "grey or palette image"
            )
    if is_lossy_mask(image.source):
        image.array = binarise_lossy(image.array, image.source)
    return image


def read_dicom_series(folder: Path | str) -> Image:
    """Read the (first) DICOM series in `folder` as a volume with its geometry."""
    import SimpleITK as sitk

    folder = Path(folder)
    reader = sitk.ImageSeriesReader()
    series_ids = reader.GetGDCMSeriesIDs(str(folder))
    if not series_ids:
        raise SvsegError(f"{folder}: no DICOM series found in this folder")
    files = reader.GetGDCMSeriesFileNames(str(folder), series_ids[0])
    reader.SetFileNames(files)
    try:
        itk_image = reader.Execute()
    except RuntimeError as exc:
        raise SvsegError(f"{folder}: DICOM series cannot be read ({itk_reason(exc)})") from None
    return _from_sitk(itk_image, folder, ".dcm")


def _read_sitk(path: Path, ending: str) -> Image:
    return _from_sitk(read_sitk(path), path, ending)


def read_sitk(path: Path):
    """A volume file as a SimpleITK image, checked to be complete; errors name the file."""
    import SimpleITK as sitk

    if path.name.lower().endswith(_NIFTI_ENDINGS):
        check_nifti(path)
    elif path.name.lower().endswith(METAIMAGE_ENDINGS):
        check_metaimage(path)  # before ITK's MetaIO prints its own complaint to stderr
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise SvsegError(f"{path}: cannot be read ({itk_reason(exc)})") from None


def itk_reason(exc: BaseException) -> str:
    """The useful part of an ITK exception: the ``ITK ERROR`` line without its class prefix."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("ITK ERROR:"):
            return re.sub(r"^ITK ERROR: \w+\(0x[0-9a-fA-F]+\): ", "", line)[:200]
    return (lines[-1] if lines else "unreadable")[:200]


def refuse_non_finite(path: Path, arrays: list[np.ndarray], unit: str) -> None:
    """NaN or infinite intensities are refused with their count: normalisation would spread them everywhere."""
    if not arrays or not np.issubdtype(arrays[0].dtype, np.floating):
        return
    bad = sum(int(np.count_nonzero(~np.isfinite(array))) for array in arrays)
    if bad:
        total = sum(int(array.size) for array in arrays)
        raise SvsegError(f"{path}: {bad} of {total} {unit}s are NaN or infinite; replace them with finite values "
                         "(e.g. 0) first")


def _from_sitk(itk_image, source: Path, ending: str) -> Image:
    import SimpleITK as sitk

    array = sitk.GetArrayFromImage(itk_image)
    dimension = itk_image.GetDimension()
    if dimension == 2:  # a 2D NIfTI/MHA: treat as a one-slice volume so geometry stays 3D
        array = array[None]
        spacing = (*itk_image.GetSpacing(), 1.0)
        origin = (*itk_image.GetOrigin(), 0.0)
        d = itk_image.GetDirection()
        direction = (d[0], d[1], 0.0, d[2], d[3], 0.0, 0.0, 0.0, 1.0)
    elif dimension == 3:
        spacing, origin, direction = itk_image.GetSpacing(), itk_image.GetOrigin(), itk_image.GetDirection()
    else:
        raise SvsegError(f"{source}: {dimension}D images are not supported (2D or 3D only)")
    return Image(
        array=array,
        spacing=tuple(float(s) for s in spacing),
        origin=tuple(float(o) for o in origin),
        direction=tuple(float(d) for d in direction),
        source=source,
        ending=ending,
        is_volume=True,
    )


def _read_pillow(path: Path, ending: str) -> Image:
    from PIL import Image as PILImage

    with PILImage.open(path) as pil:
        palette = None
        if pil.mode == "P":
            raw_palette = pil.getpalette() or []
            palette = [tuple(raw_palette[i : i + 3]) for i in range(0, len(raw_palette), 3)]
            array = np.asarray(pil)
        elif pil.mode in ("1", "L", "I;16", "I;16B", "I", "F", "RGB", "RGBA"):
            array = np.asarray(pil)
        elif pil.mode == "LA":
            array = np.asarray(pil.convert("L"))
        else:
            array = np.asarray(pil.convert("RGB"))
    if array.dtype == bool:
        array = array.astype(np.uint8)
    return _plain_2d(array, path, ending, palette)


def _read_tiff(path: Path, ending: str) -> Image:
    import tifffile

    array = tifffile.imread(path)
    if array.ndim == 3 and array.shape[-1] not in (3, 4):
        # a z-stack: (z, y, x) at unit spacing (ImageJ and OME metadata are not read: NIfTI keeps spacing)
        return Image(array=array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
                     direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
                     source=path, ending=ending, is_volume=True)
    if array.ndim not in (2, 3):
        raise SvsegError(f"{path}: TIFF with shape {array.shape} is not a 2D image or a z-stack")
    return _plain_2d(array, path, ending, None)


def _plain_2d(array: np.ndarray, path: Path, ending: str, palette) -> Image:
    if array.ndim not in (2, 3):
        raise SvsegError(f"{path}: unexpected image shape {array.shape}")
    return Image(array=np.ascontiguousarray(array), spacing=(1.0, 1.0), origin=(0.0, 0.0),
                 direction=(1.0, 0.0, 0.0, 1.0), source=path, ending=ending, is_volume=False,
                 palette=palette)
