"""Folders of data held the way users hold them, written by the tests in the user's own formats.

Every form is a ``train/`` folder (``images/`` + ``labels/``, what ``svseg import`` gets) and a
``new/`` folder of other cases (``images/``, raw files to segment, and ``labels/``, the user's own
masks for them, what ``svseg evaluate -g`` gets). Nothing here goes through svseg: the 2D forms
are crops of the CC0 nuclei images shipped in the package (``svseg/demo_data/nuclei``, 0/255
masks), written with Pillow or tifffile; the volumes are generated with numpy and written with
SimpleITK or nibabel, with the geometry a scanner would give them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image as PILImage

CROP = 64
N_TRAIN, N_NEW = 6, 2
CT_SPACING = (0.7, 0.7, 2.5)  # x, y, z in mm, as SimpleITK orders them
CT_ORIGIN = (-120.5, 88.25, -402.0)
# The patient lies head-first prone: x and y flipped, plus a 10-degree tilt about z.
_TILT = np.deg2rad(10.0)
CT_DIRECTION = (-np.cos(_TILT), np.sin(_TILT), 0.0, -np.sin(_TILT), -np.cos(_TILT), 0.0, 0.0, 0.0, 1.0)
VOLUME_SHAPE = (16, 40, 40)  # z, y, x


@dataclass(frozen=True)
class UserFolders:
    """One form's folders: training data for import, and new files with the user's masks."""

    root: Path

    @property
    def train(self) -> Path:
        return self.root / "train"

    @property
    def new_images(self) -> Path:
        return self.root / "new" / "images"

    @property
    def new_labels(self) -> Path:
        return self.root / "new" / "labels"

    def split(self, index: int) -> Path:
        """``train`` for the first N_TRAIN cases, then ``new``."""
        return self.train if index < N_TRAIN else self.root / "new"


def nuclei_crops(count: int = N_TRAIN + N_NEW) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` (grey uint8 image, 0/255 mask) crops of CROP x CROP pixels from the shipped nuclei.

    Each crop is the CROP-sized tile of its image with the most nucleus pixels, so every case
    holds objects. The shipped images are RGB with three equal channels; the first is the grey.
    """
    folder = Path(str(resources.files("svseg") / "demo_data" / "nuclei"))
    crops = []
    for image_path in sorted((folder / "images").glob("*.png"))[:count]:
        image = np.asarray(PILImage.open(image_path))[..., 0]
        mask = np.asarray(PILImage.open(folder / "labels" / image_path.name))
        tiles = [(y, x) for y in range(0, image.shape[0] - CROP + 1, CROP)
                 for x in range(0, image.shape[1] - CROP + 1, CROP)]
        y, x = max(tiles, key=lambda t: int(np.count_nonzero(mask[t[0]:t[0] + CROP, t[1]:t[1] + CROP])))
        crops.append((image[y:y + CROP, x:x + CROP].copy(), mask[y:y + CROP, x:x + CROP].copy()))
    return crops


def colourise(grey: np.ndarray) -> np.ndarray:
    """An H&E-like RGB image: pink background, purple where the grey image is bright (nuclei)."""
    pink, purple = np.array([236.0, 182.0, 212.0]), np.array([84.0, 32.0, 128.0])
    weight = (grey.astype(np.float64) / 255.0)[..., None]
    return np.clip(pink * (1 - weight) + purple * weight, 0, 255).round().astype(np.uint8)


def save_2d(path: Path, array: np.ndarray, **options: object) -> Path:
    """Save with Pillow (format from the ending) or tifffile for ``.tif``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".tif":
        import tifffile

        tifffile.imwrite(path, array)
    else:
        PILImage.fromarray(array).save(path, **options)
    return path


def write_2d_form(root: Path, form: str) -> UserFolders:
    """Forms a-e: the nuclei crops as grey/equal-RGB/H&E PNG, JPEG photos, or 16-bit TIFF."""
    folders = UserFolders(root)
    for index, (grey, mask) in enumerate(nuclei_crops()):
        split, name = folders.split(index), f"nuclei_{index:02d}"
        if form == "grey_png":
            image, image_ending, mask_ending = grey, ".png", ".png"
        elif form == "equal_rgb_png":
            image, image_ending, mask_ending = np.repeat(grey[..., None], 3, axis=2), ".png", ".png"
        elif form == "he_rgb_png":
            image, image_ending, mask_ending = colourise(grey), ".png", ".png"
        elif form == "jpeg":
            image, image_ending, mask_ending = colourise(grey), ".jpg", ".jpg"
        elif form == "tiff16":
            image, image_ending, mask_ending = (grey.astype(np.uint16) * 180 + 1500), ".tif", ".tif"
        else:
            raise ValueError(form)
        save_2d(split / "images" / f"{name}{image_ending}", image, **({"quality": 90} if form == "jpeg" else {}))
        save_2d(split / "labels" / f"{name}{mask_ending}", mask, **({"quality": 75} if form == "jpeg" else {}))
    return folders


def write_ignore_form(root: Path) -> UserFolders:
    """Form i: grey PNGs with 0/1/2 masks (small/large nuclei) and 255 where nobody annotated.

    The right quarter of every image is "not annotated" (255), as a user marks an unfinished
    region; nuclei there are not labelled at all.
    """
    from scipy import ndimage

    folders = UserFolders(root)
    for index, (grey, mask) in enumerate(nuclei_crops()):
        objects, count = ndimage.label(mask > 0, structure=np.ones((3, 3)))
        sizes = ndimage.sum(mask > 0, objects, range(1, count + 1))
        classes = np.zeros_like(mask)
        for number, size in enumerate(sizes, start=1):
            classes[objects == number] = 1 if size < 60 else 2
        classes[:, 3 * CROP // 4:] = 255
        split, name = folders.split(index), f"nuclei_{index:02d}"
        save_2d(split / "images" / f"{name}.png", grey)
        save_2d(split / "labels" / f"{name}.png", classes)
    return folders


def blob_volume(rng: np.random.Generator, classes: int = 1) -> np.ndarray:
    """A (z, y, x) uint8 label volume with 2-4 ellipsoid lesions per class, elongated along z."""
    zz, yy, xx = np.mgrid[: VOLUME_SHAPE[0], : VOLUME_SHAPE[1], : VOLUME_SHAPE[2]]
    labels = np.zeros(VOLUME_SHAPE, np.uint8)
    for value in range(1, classes + 1):
        for _ in range(rng.integers(2, 5)):
            radius = rng.uniform(3.0, 6.0)
            centre = (rng.uniform(4, VOLUME_SHAPE[0] - 4), rng.uniform(8, VOLUME_SHAPE[1] - 8),
                      rng.uniform(8, VOLUME_SHAPE[2] - 8))
            inside = (((zz - centre[0]) / (radius / 2)) ** 2 + ((yy - centre[1]) / radius) ** 2
                      + ((xx - centre[2]) / radius) ** 2) <= 1
            labels[inside] = value
    return labels


def ct_volume(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """int16 HU: air outside a soft-tissue body (40 HU), hypodense lesions (-10 HU), noise."""
    _, yy, xx = np.mgrid[: VOLUME_SHAPE[0], : VOLUME_SHAPE[1], : VOLUME_SHAPE[2]]
    body = ((yy - 20) / 19.0) ** 2 + ((xx - 20) / 19.5) ** 2 <= 1
    hu = np.where(body, 40.0, -1000.0) + rng.normal(0, 12, VOLUME_SHAPE)
    hu[labels > 0] = -10 + rng.normal(0, 12, int(np.count_nonzero(labels)))
    return hu.round().astype(np.int16)


def write_sitk(path: Path, array: np.ndarray, spacing=CT_SPACING, origin=CT_ORIGIN,
               direction=CT_DIRECTION) -> Path:
    """A (z, y, x) array with the given geometry, written by SimpleITK (format from the ending)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    sitk.WriteImage(image, str(path))
    return path


def write_ct_form(root: Path) -> UserFolders:
    """Form f: NIfTI CT (int16 HU, 0.7 x 0.7 x 2.5 mm, flipped and tilted axes) with NIfTI masks."""
    folders, rng = UserFolders(root), np.random.default_rng(6)
    for index in range(N_TRAIN + N_NEW):
        labels = blob_volume(rng)
        split, name = folders.split(index), f"ct_{index:02d}"
        write_sitk(split / "images" / f"{name}.nii.gz", ct_volume(rng, labels))
        write_sitk(split / "labels" / f"{name}.nii.gz", labels)
    return folders


def write_dicom_series(folder: Path, hu: np.ndarray, spacing=CT_SPACING, origin=CT_ORIGIN,
                       uid: str = "1.2.826.0.1.3680043.2.1125.9") -> None:
    """One CT DICOM file per axial slice with the tags a series reader sorts and places them by."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(hu.shape[0]):
        plane = sitk.GetImageFromArray(hu[z])
        plane.SetSpacing(spacing[:2])
        position = (origin[0], origin[1], origin[2] + z * spacing[2])
        tags = {
            "0008|0060": "CT", "0008|0016": "1.2.840.10008.5.1.4.1.1.2", "0008|0018": f"{uid}.3.{z + 1}",
            "0020|000d": f"{uid}.1", "0020|000e": f"{uid}.2", "0020|0013": str(z + 1),
            "0020|0032": "\\".join(f"{v:g}" for v in position), "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": f"{spacing[1]:g}\\{spacing[0]:g}", "0018|0050": f"{spacing[2]:g}",
        }
        for key, value in tags.items():
            plane.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"IM{z + 1:04d}.dcm"))
        writer.Execute(plane)


def write_dicom_form(root: Path) -> UserFolders:
    """Form g: one DICOM series folder per patient, NIfTI masks on the series' grid."""
    folders, rng = UserFolders(root), np.random.default_rng(7)
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    for index in range(N_TRAIN + N_NEW):
        labels = blob_volume(rng)
        split, name = folders.split(index), f"patient{index:02d}"
        uid = f"1.2.826.0.1.3680043.2.1125.{index + 9}"
        write_dicom_series(split / "images" / name, ct_volume(rng, labels), uid=uid)
        write_sitk(split / "labels" / f"{name}.nii.gz", labels, direction=identity)
    return folders


MRI_SPACING = (1.0, 1.0, 1.5)
MRI_CHANNELS = 4
MRI_CLASSES = ("oedema", "enhancing", "necrosis")


def mri_channels(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """(4, z, y, x) float32 FLAIR, T1, T1c, T2: each lesion class stands out in its own modalities."""
    contrast = np.array([  # background, oedema, enhancing, necrosis per modality
        [300.0, 700.0, 500.0, 400.0],   # FLAIR: oedema bright
        [500.0, 420.0, 450.0, 200.0],   # T1: necrosis dark
        [500.0, 480.0, 1100.0, 250.0],  # T1c: enhancing rim bright
        [400.0, 800.0, 600.0, 900.0],   # T2: oedema and necrosis bright
    ])
    return (contrast[:, labels] + rng.normal(0, 30, (MRI_CHANNELS, *labels.shape))).astype(np.float32)


def write_mri_form(root: Path, four_d: bool) -> UserFolders:
    """Form h: 4 MRI modalities and 3 lesion classes, as CASE_0000..CASE_0003 files or one 4D NIfTI."""
    import nibabel

    folders, rng = UserFolders(root), np.random.default_rng(8)
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    for index in range(N_TRAIN + N_NEW):
        labels = blob_volume(rng, classes=len(MRI_CLASSES))
        channels = mri_channels(rng, labels)
        split, name = folders.split(index), f"brain_{index:02d}"
        if four_d:
            # nibabel's (x, y, z, modality) layout, as the Decathlon's BrainTumour task ships it
            affine = np.diag([*MRI_SPACING, 1.0])
            path = split / "images" / f"{name}.nii.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            nibabel.save(nibabel.Nifti1Image(np.transpose(channels, (3, 2, 1, 0)), affine), str(path))
            label_path = split / "labels" / f"{name}.nii.gz"
            label_path.parent.mkdir(parents=True, exist_ok=True)
            nibabel.save(nibabel.Nifti1Image(np.transpose(labels, (2, 1, 0)), affine), str(label_path))
        else:
            for channel in range(MRI_CHANNELS):
                write_sitk(split / "images" / f"{name}_{channel:04d}.nii.gz", channels[channel],
                           spacing=MRI_SPACING, origin=(0.0, 0.0, 0.0), direction=identity)
            write_sitk(split / "labels" / f"{name}.nii.gz", labels, spacing=MRI_SPACING, origin=(0.0, 0.0, 0.0),
                       direction=identity)
    return folders
