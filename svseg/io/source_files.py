"""A source file (or DICOM series folder) read as the channels it holds, before any dataset rule.

2D images come out grey or RGB: a palette image is expanded to its RGB colours, an alpha channel
is dropped (with a warning when it is not constant: transparency is lost), and a bool image
becomes uint8. Volumes come out as one 3D channel per component: a 4D NIfTI (MSD stores
modalities that way) or a vector image is split, and :attr:`Channel.index` keeps each channel's
position so NIfTI headers can be copied exactly. Float pixels that are NaN or infinite are
refused with their count: nnU-Net's normalisation would spread them over the whole image.

:class:`SourceInfo` is the summary :mod:`svseg.io.channel_rule` decides on; :func:`probe_source`
gives the same summary from headers only for volumes and DICOM series (a 400-slice CT is read
once, when it is used), and by decoding 2D images, which are small.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svseg.errors import SvsegError
from svseg.io.formats import VOLUME_ENDINGS, file_ending
from svseg.io.image import Image
from svseg.io.readers import check_exists, itk_reason, read_dicom_series, read_image, read_sitk, refuse_non_finite

log = logging.getLogger(__name__)

GREY, EQUAL_RGB, COLOUR, VOLUME = "grey", "equal_rgb", "colour", "volume"
"""What a source file holds (:attr:`SourceInfo.kind`): a grey 2D image, an RGB 2D image whose three
channels are equal (a grey picture saved as RGB), a true-colour 2D image, or a volume."""


@dataclass(frozen=True)
class Channel:
    """One output image file's content, and where in which source file it came from.

    ``index`` is the position along a source file's channel axis (4th NIfTI dimension or vector
    component), None when the file held only this channel. Writers use it to copy NIfTI headers
    exactly instead of re-encoding geometry.
    """

    image: Image
    source: Path
    index: int | None = None

    @property
    def num_channels(self) -> int:
        """Channels nnU-Net reads from this file (3 for 2D RGB, else 1)."""
        return self.image.num_channels


@dataclass(frozen=True)
class SourceInfo:
    """What one source file holds: its kind, channel count as read, pixel type and geometry.

    ``size`` and ``spacing`` are in SimpleITK's (x, y[, z]) order; ``dtype`` is the numpy name of
    the pixel type (``uint8``, ``int16``, ``float32`` ...).
    """

    path: Path
    kind: str
    channels: int
    dtype: str
    size: tuple[int, ...]
    spacing: tuple[float, ...]

    @property
    def is_volume(self) -> bool:
        """True for volumes (and DICOM series), False for 2D images."""
        return self.kind == VOLUME


def read_source(path: Path, warn: bool = True) -> list[Channel]:
    """Every channel of one source file, as read (see the module docstring); `warn` about dropped alpha."""
    path = Path(path)
    check_exists(path)
    if path.is_dir():
        channels = _split_components(read_dicom_series(path), path)
    elif file_ending(path) in VOLUME_ENDINGS and _header_dimension(path) == 4:
        channels = _split_4d(path)
    else:
        image = read_image(path)
        channels = _split_components(image, path) if image.is_volume else [Channel(clean_2d(image, warn), path)]
    refuse_non_finite(path, [channel.image.array for channel in channels],
                      "voxel" if channels[0].image.is_volume else "pixel")
    return channels


def describe_source(path: Path, channels: list[Channel]) -> SourceInfo:
    """The summary of a file read by :func:`read_source`."""
    image = channels[0].image
    size = tuple(int(s) for s in reversed(image.spatial_shape))
    if image.is_volume:
        return SourceInfo(Path(path), VOLUME, len(channels), image.array.dtype.name, size, tuple(image.spacing))
    array = image.array
    if array.ndim == 2:
        kind = GREY
    else:
        kind = EQUAL_RGB if bool(np.all(array == array[..., :1])) else COLOUR
    return SourceInfo(Path(path), kind, image.num_channels, array.dtype.name, size, tuple(image.spacing))


def probe_source(path: Path) -> SourceInfo:
    """The summary of one file without reading a volume's voxels (2D images are decoded)."""
    path = Path(path)
    check_exists(path)
    if path.is_dir():
        return _probe_dicom(path)
    if file_ending(path) in VOLUME_ENDINGS:
        return _probe_volume(path)
    return describe_source(path, read_source(path, warn=False))


def clean_2d(image: Image, warn: bool = True) -> Image:
    """A 2D image as grey or RGB pixels: palette expanded, alpha dropped, bool as uint8."""
    array = image.array
    if image.palette is not None:
        colours = np.array(image.palette, dtype=np.uint8).reshape(-1, 3)
        array = colours[np.clip(array, 0, len(colours) - 1)]
    if array.ndim == 3 and array.shape[-1] == 4:
        alpha = array[..., 3]
        if warn and np.any(alpha != alpha.flat[0]):
            log.warning("%s: transparency dropped (alpha channel is not constant)", image.source)
        array = array[..., :3]
    if array.dtype == bool:
        array = array.astype(np.uint8)
    return dataclasses.replace(image, array=np.ascontiguousarray(array), palette=None)


def _split_components(image: Image, path: Path) -> list[Channel]:
    if image.num_channels == 1:
        return [Channel(image, path)]
    return [
        Channel(dataclasses.replace(image, array=np.ascontiguousarray(image.array[..., c])), path, c)
        for c in range(image.num_channels)
    ]


def _header_reader(path: Path):
    """A SimpleITK reader that has read `path`'s header (no voxels); errors name the file."""
    import SimpleITK as sitk

    if path.is_file() and path.stat().st_size == 0:
        raise SvsegError(f"{path}: file is empty")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise SvsegError(f"{path}: cannot be read ({itk_reason(exc)})") from None
    return reader


def _header_dimension(path: Path) -> int | None:
    """Dimensions in a volume's header (None if unreadable: the full read reports why)."""
    try:
        return _header_reader(path).GetDimension()
    except SvsegError:
        return None


def _split_4d(path: Path) -> list[Channel]:
    """One 3D channel per position along the 4th axis."""
    import SimpleITK as sitk

    volume = read_sitk(path)
    size = list(volume.GetSize())
    channels = []
    for index in range(size[3]):
        part = sitk.Extract(volume, [*size[:3], 0], [0, 0, 0, index])
        image = Image(
            array=sitk.GetArrayFromImage(part),
            spacing=tuple(float(s) for s in part.GetSpacing()),
            origin=tuple(float(o) for o in part.GetOrigin()),
            direction=tuple(float(d) for d in part.GetDirection()),
            source=path,
            ending=file_ending(path),
            is_volume=True,
        )
        channels.append(Channel(image, path, index))
    return channels


def _probe_volume(path: Path) -> SourceInfo:
    reader = _header_reader(path)
    dimension, size, spacing = reader.GetDimension(), tuple(reader.GetSize()), tuple(reader.GetSpacing())
    components = int(reader.GetNumberOfComponents())
    if dimension == 4:
        components, size, spacing = components * size[3], size[:3], spacing[:3]
    elif dimension == 2:
        size, spacing = (*size, 1), (*spacing, 1.0)
    elif dimension != 3:
        raise SvsegError(f"{path}: {dimension}D images are not supported (2D, 3D, or 4D channels)")
    return SourceInfo(path, VOLUME, components, _sitk_dtype(reader.GetPixelID()), tuple(int(s) for s in size),
                      tuple(float(s) for s in spacing))


def _probe_dicom(folder: Path) -> SourceInfo:
    """The series' summary from its first file's header and its file count.

    The slice spacing is that file's own; the real one is known only from every slice's position.
    """
    import SimpleITK as sitk

    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise SvsegError(f"{folder}: no DICOM series found in this folder")
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0])
    first = _probe_volume(Path(files[0]))
    return dataclasses.replace(first, path=folder, size=(*first.size[:2], len(files)))


def _sitk_dtype(pixel_id: int) -> str:
    """numpy's name for a SimpleITK pixel type (scalar or vector), 'other' for complex and labels."""
    import SimpleITK as sitk

    names = {}
    for name in ("UInt8", "Int8", "UInt16", "Int16", "UInt32", "Int32", "UInt64", "Int64", "Float32", "Float64"):
        for prefix in ("sitk", "sitkVector"):
            names[getattr(sitk, prefix + name)] = name.lower()
    return names.get(pixel_id, "other")
