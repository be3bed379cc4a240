"""Reading one case's source files as the channels nnU-Net will see.

nnU-Net wants one file per channel for volumes (``_0000``, ``_0001`` ...) but keeps a 2D RGB
image in a single file whose reader returns three channels. So volumes with several channels
(MSD's 4D NIfTI, vector images) are split here, while 2D colour stays together. 2D images are
also cleaned up the way nnU-Net needs them: palette images become RGB, an alpha channel is
dropped (RGBA crashes nnU-Net's preprocessing), and RGB files whose three channels are equal
become grey, since that is what they hold.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svseg.errors import SvsegError
from svseg.io import Image, file_ending, read_dicom_series, read_image, read_mask
from svseg.io.formats import VOLUME_ENDINGS

log = logging.getLogger(__name__)


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


def read_case_images(paths: Sequence[Path]) -> list[Channel]:
    """All channels of a case, in order, from its image files (or DICOM folders)."""
    channels: list[Channel] = []
    for path in paths:
        channels.extend(_file_channels(Path(path)))
    return channels


def read_case_label(path: Path) -> Image:
    """A case's mask: a single-channel file, a palette PNG (indices kept) or a DICOM series folder."""
    return read_mask(path)


def _file_channels(path: Path) -> list[Channel]:
    if path.is_dir():
        return [Channel(read_dicom_series(path), path)]
    if file_ending(path) in VOLUME_ENDINGS and _dimension(path) == 4:
        return _split_4d(path)
    image = read_image(path)
    if not image.is_volume:
        return [Channel(prepare_2d(image), path)]
    if image.num_channels == 1:
        return [Channel(image, path)]
    return [
        Channel(dataclasses.replace(image, array=np.ascontiguousarray(image.array[..., c])), path, c)
        for c in range(image.num_channels)
    ]


def prepare_2d(image: Image) -> Image:
    """A 2D image as nnU-Net's natural-image reader should get it: grey or RGB, no palette or alpha."""
    array = image.array
    if image.palette is not None:
        colours = np.array(image.palette, dtype=np.uint8).reshape(-1, 3)
        array = colours[np.clip(array, 0, len(colours) - 1)]
    if array.ndim == 3 and array.shape[-1] == 4:
        alpha = array[..., 3]
        if np.any(alpha != alpha.flat[0]):
            log.warning("%s: transparency dropped (alpha channel is not constant)", image.source)
        array = array[..., :3]
    if array.ndim == 3 and array.shape[-1] == 3 and np.all(array == array[..., :1]):
        array = array[..., 0]
    if array.dtype == bool:
        array = array.astype(np.uint8)
    return dataclasses.replace(image, array=np.ascontiguousarray(array), palette=None)


def _dimension(path: Path) -> int | None:
    """Number of dimensions in a volume's header, without reading pixels (None if unreadable)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None  # read_image will report the file as unreadable, with its reason
    return reader.GetDimension()


def _split_4d(path: Path) -> list[Channel]:
    """One 3D channel per position along the 4th axis (MSD stores modalities that way)."""
    import SimpleITK as sitk

    try:
        volume = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise SvsegError(f"{path}: cannot be read ({str(exc).strip().splitlines()[-1][:200]})") from None
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
