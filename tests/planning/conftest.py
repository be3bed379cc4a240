"""Raw datasets in nnU-Net layout, written directly (no `svseg import`) with objects of known size.

Every image holds two objects of class 1 whose sizes are exact fractions of the slice:
- PNG 100 x 100: a 5 x 10 rectangle (50 px = 0.5 %) and a 20 x 25 rectangle (500 px = 5 %);
- NIfTI (z, y, x) = (6, 80, 100) at spacing (x, y, z) = (0.5, 0.8, 4.0) mm: in slice 2 a 4 x 10
  rectangle (40 px = 0.5 %, 40 x 0.4 = 16 mm²) and in slice 3 a 20 x 20 square of class 2
  (400 px = 5 %, 160 mm²); z is the coarsest axis, so slices are cut along it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

PNG_SHAPE = (100, 100)
VOLUME_SHAPE = (6, 80, 100)
VOLUME_SPACING_XYZ = (0.5, 0.8, 4.0)


def png_label(small: tuple[int, int] = (5, 10)) -> np.ndarray:
    """A 100 x 100 mask with a `small` rectangle (default 0.5 %) and a 20 x 25 one (5 %)."""
    label = np.zeros(PNG_SHAPE, np.uint8)
    label[10:10 + small[0], 10:10 + small[1]] = 1
    label[50:70, 50:75] = 1
    return label


def volume_label() -> np.ndarray:
    """A (6, 80, 100) mask: 0.5 % object of class 1 in slice 2, 5 % object of class 2 in slice 3."""
    label = np.zeros(VOLUME_SHAPE, np.uint8)
    label[2, 10:14, 10:20] = 1
    label[3, 20:40, 20:40] = 2
    return label


def _dataset_json(folder: Path, channels: dict, labels: dict, count: int, ending: str) -> None:
    payload = {"channel_names": channels, "labels": labels, "numTraining": count, "file_ending": ending}
    (folder / "dataset.json").write_text(json.dumps(payload))


def write_png_dataset(home: Path, name: str = "Dataset001_Png", cases: int = 4,
                      label_fn: Callable[[int], np.ndarray] | None = None) -> Path:
    """Grey PNG images + label PNGs under `home`/raw/`name`; returns the raw folder."""
    folder = home / "raw" / name
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    for index in range(cases):
        label = label_fn(index) if label_fn else png_label()
        image = (np.random.default_rng(index).random(PNG_SHAPE) * 100 + label * 120).astype(np.uint8)
        Image.fromarray(image).save(folder / "imagesTr" / f"case{index}_0000.png")
        Image.fromarray(label).save(folder / "labelsTr" / f"case{index}.png")
    _dataset_json(folder, {"0": "rescale_to_0_1"}, {"background": 0, "lesion": 1}, cases, ".png")
    return folder


def write_nifti_dataset(home: Path, name: str = "Dataset002_Vol", cases: int = 3,
                        spacings_xyz: list[tuple[float, float, float]] | None = None) -> Path:
    """Anisotropic NIfTI volumes with two classes under `home`/raw/`name`; returns the raw folder.

    `spacings_xyz` gives each case its own spacing (default: all VOLUME_SPACING_XYZ).
    """
    folder = home / "raw" / name
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    for index in range(cases):
        label = volume_label()
        image = (np.random.default_rng(index).normal(size=VOLUME_SHAPE) * 10 + label * 50).astype(np.float32)
        for array, path in ((image, folder / "imagesTr" / f"vol{index}_0000.nii.gz"),
                            (label, folder / "labelsTr" / f"vol{index}.nii.gz")):
            volume = sitk.GetImageFromArray(array)
            volume.SetSpacing(spacings_xyz[index] if spacings_xyz else VOLUME_SPACING_XYZ)
            sitk.WriteImage(volume, str(path))
    _dataset_json(folder, {"0": "CT"}, {"background": 0, "nodule": 1, "lesion": 2}, cases, ".nii.gz")
    return folder


@pytest.fixture
def png_dataset(isolated_data_root: Path) -> Path:
    """A 4-case PNG dataset, Dataset001_Png."""
    return write_png_dataset(isolated_data_root)


@pytest.fixture
def png_dataset_with_objects(isolated_data_root: Path) -> Callable[[str, tuple[int, int]], Path]:
    """Factory: a 4-case PNG dataset named `name` whose first object is a `small` rectangle."""

    def make(name: str, small: tuple[int, int]) -> Path:
        return write_png_dataset(isolated_data_root, name, label_fn=lambda index: png_label(small))

    return make


@pytest.fixture
def nifti_dataset_with_spacings(isolated_data_root: Path) -> Callable[[list[tuple[float, float, float]]], Path]:
    """Factory: Dataset002_Vol with one (x, y, z) spacing per case."""

    def make(spacings_xyz: list[tuple[float, float, float]]) -> Path:
        return write_nifti_dataset(isolated_data_root, cases=len(spacings_xyz), spacings_xyz=spacings_xyz)

    return make


@pytest.fixture
def nifti_dataset(isolated_data_root: Path) -> Path:
    """A 3-case NIfTI dataset, Dataset002_Vol."""
    return write_nifti_dataset(isolated_data_root)


@pytest.fixture(autouse=True)
def fewer_intensity_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """nnU-Net samples 1e8 foreground intensities per dataset whatever its size; 1e5 keep tests fast.

    Only the CT-normalisation statistics depend on the count; no test here checks them.
    """
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor

    original = DatasetFingerprintExtractor.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self.num_foreground_voxels_for_intensitystats = 1e5

    monkeypatch.setattr(DatasetFingerprintExtractor, "__init__", init)
