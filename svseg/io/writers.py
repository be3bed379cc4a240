"""Writing images and masks atomically, in the reference file's format and geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from svseg.errors import SvsegError
from svseg.io.formats import file_ending, is_volume_ending
from svseg.io.image import Image
from svseg.utils.fs import atomic_path


def write_image(path: Path | str, image: Image) -> None:
    """Write `image` to `path` (format from the ending) with its geometry, atomically."""
    path = Path(path)
    ending = file_ending(path)
    if not ending:
        raise SvsegError(f"{path}: cannot write this file type")
    with atomic_path(path) as tmp:
        if is_volume_ending(ending):
            _write_sitk(tmp, image)
        elif ending in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(tmp, image.array)
        elif ending in (".jpg", ".jpeg"):
            raise SvsegError(f"{path}: svseg never writes JPG (lossy); use PNG")
        else:
            from PIL import Image as PILImage

            PILImage.fromarray(_pillow_ready(image.array)).save(tmp, format=_pillow_format(ending))


def write_mask_like(path: Path | str, mask: np.ndarray, reference: Image) -> None:
    """Write a label array with `reference`'s geometry (mask shape = reference spatial shape)."""
    if tuple(mask.shape) != reference.spatial_shape:
        raise ValueError(f"mask shape {mask.shape} differs from reference {reference.spatial_shape}")
    dtype = np.uint8 if int(mask.max(initial=0)) < 256 else np.uint16
    write_image(path, Image(array=mask.astype(dtype), spacing=reference.spacing, origin=reference.origin,
                            direction=reference.direction, is_volume=reference.is_volume))


def _write_sitk(path: Path, image: Image) -> None:
    import SimpleITK as sitk

    array = image.array
    is_vector = array.ndim == (4 if image.is_volume else 3)
    itk_image = sitk.GetImageFromArray(array, isVector=is_vector)
    dims = itk_image.GetDimension()
    if len(image.spacing) == dims:
        itk_image.SetSpacing(image.spacing)
        itk_image.SetOrigin(image.origin)
        itk_image.SetDirection(image.direction)
    sitk.WriteImage(itk_image, str(path), useCompression=True)


def _pillow_ready(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint16 or array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.integer) and array.min() >= 0 and array.max() < 65536:
        return array.astype(np.uint16 if array.max() > 255 else np.uint8)
    raise ValueError(f"cannot store dtype {array.dtype} in a 2D image file")


def _pillow_format(ending: str) -> str:
    return {".png": "PNG", ".bmp": "BMP"}[ending]
