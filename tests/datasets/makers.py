"""Small source folders written by the tests: PNG/JPG/TIFF pairs, volumes, DICOM series, MSD tasks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image as PILImage

TILTED = (0.8, -0.6, 0.0, 0.6, 0.8, 0.0, 0.0, 0.0, 1.0)  # a rotation about z, so direction really matters


def disk_mask(shape: tuple[int, int], value: int = 255, radius: int = 4,
              centre: tuple[int, int] = (8, 10)) -> np.ndarray:
    """A 2D mask with one filled disk of `value` on 0."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, np.uint8)
    mask[(yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2] = value
    return mask


def noise_image(shape: tuple[int, ...], seed: int, dtype=np.uint8) -> np.ndarray:
    """Deterministic random pixels."""
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * (255 if dtype == np.uint8 else 1000)).astype(dtype)


def write_png(path: Path, array: np.ndarray, **save_args) -> Path:
    """Save `array` with Pillow (format from the ending)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path, **save_args)
    return path


def write_palette_png(path: Path, indices: np.ndarray, colours: list[tuple[int, int, int]]) -> Path:
    """An indexed-colour PNG holding `indices` with the given palette."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = PILImage.fromarray(indices.astype(np.uint8), mode="P")
    flat = [channel for colour in colours for channel in colour]
    image.putpalette(flat + [0] * (768 - len(flat)))
    image.save(path)
    return path


def write_tiff(path: Path, array: np.ndarray) -> Path:
    """Save `array` with tifffile."""
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array)
    return path


def write_volume(path: Path, array: np.ndarray, spacing=(0.7, 0.8, 2.5), origin=(-12.5, 4.25, 30.0),
                 direction=TILTED) -> Path:
    """Save a (z, y, x) array with SimpleITK and the given geometry (format from the ending)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    sitk.WriteImage(image, str(path))
    return path


def write_dicom_series(folder: Path, array: np.ndarray, spacing=(0.5, 0.75, 2.5), origin=(10.0, -20.0, 30.0),
                       modality: str = "CT", uid: str = "1.2.826.0.1.3680043.2.1125.7") -> Path:
    """One DICOM file per slice of a (z, y, x) int16 array, with the tags a series reader needs."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(array.shape[0]):
        plane = sitk.GetImageFromArray(array[z])
        plane.SetSpacing(spacing[:2])
        position = (origin[0], origin[1], origin[2] + z * spacing[2])
        tags = {
            "0008|0060": modality, "0008|0016": "1.2.840.10008.5.1.4.1.1.2", "0008|0018": f"{uid}.3.{z + 1}",
            "0020|000d": f"{uid}.1", "0020|000e": f"{uid}.2", "0020|0013": str(z + 1),
            "0020|0032": "\\".join(f"{v:g}" for v in position), "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": f"{spacing[1]:g}\\{spacing[0]:g}", "0018|0050": f"{spacing[2]:g}",
        }
        for key, value in tags.items():
            plane.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice{z:03d}.dcm"))
        writer.Execute(plane)
    return folder


def paired_2d(root: Path, n: int = 4, *, rgb: bool = False, ending: str = ".png", mask_value: int = 255,
              shape: tuple[int, int] = (20, 24), mask_dir: str = "labels") -> Path:
    """``root/images/case{i}<ending>`` + ``root/<mask_dir>/case{i}.png`` with 0/`mask_value` disks."""
    for i in range(n):
        image = noise_image((*shape, 3) if rgb else shape, seed=i)
        if ending in (".tif", ".tiff"):
            write_tiff(root / "images" / f"case{i}{ending}", image)
        else:
            write_png(root / "images" / f"case{i}{ending}", image)
        write_png(root / mask_dir / f"case{i}.png", disk_mask(shape, mask_value, centre=(6 + i, 8)))
    return root


def volume_mask(shape: tuple[int, int, int], values=(1,)) -> np.ndarray:
    """A (z, y, x) uint8 mask with a small box per value."""
    mask = np.zeros(shape, np.uint8)
    for k, value in enumerate(values):
        mask[1:3, 2 + 3 * k : 4 + 3 * k, 2:5] = value
    return mask


def paired_volumes(root: Path, n: int = 3, *, ending: str = ".nii.gz", shape=(4, 12, 10), **geometry) -> Path:
    """``root/images/vol{i}<ending>`` (int16) + ``root/labels/vol{i}<ending>`` with the same geometry."""
    for i in range(n):
        write_volume(root / "images" / f"vol{i}{ending}", noise_image(shape, seed=i, dtype=np.int16), **geometry)
        write_volume(root / "labels" / f"vol{i}{ending}", volume_mask(shape, values=(1, 2)), **geometry)
    return root


def msd_task(root: Path, n_train: int = 3, n_test: int = 1, channels: int = 2, shape=(4, 10, 8)) -> Path:
    """A Decathlon task: 4D multi-modal NIfTI images, 3D labels, dataset.json with training/test lists."""
    training, test = [], []
    for i in range(n_train + n_test):
        name = f"task_{i:03d}.nii.gz"
        volumes = [sitk.GetImageFromArray(noise_image(shape, seed=10 * i + c, dtype=np.int16)) for c in range(channels)]
        for volume in volumes:
            volume.SetSpacing((1.0, 1.25, 3.0))
            volume.SetOrigin((5.0, 6.0, 7.0))
        folder = "imagesTr" if i < n_train else "imagesTs"
        (root / folder).mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(sitk.JoinSeries(volumes), str(root / folder / name))
        if i < n_train:
            write_volume(root / "labelsTr" / name, volume_mask(shape, values=(1, 2)), spacing=(1.0, 1.25, 3.0),
                         origin=(5.0, 6.0, 7.0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
            training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
        else:
            test.append(f"./imagesTs/{name}")
    (root / "imagesTr" / "._task_000.nii.gz").write_bytes(b"macOS resource fork")  # MSD archives ship these
    content = {
        "name": "Task", "modality": {str(c): ("CT" if c == 0 else f"MR{c}") for c in range(channels)},
        "labels": {"0": "background", "1": "edema", "2": "tumour"},
        "numTraining": n_train, "numTest": n_test, "training": training, "test": test,
    }
    (root / "dataset.json").write_text(json.dumps(content))
    return root


def nnunet_raw(root: Path, n: int = 3) -> Path:
    """A minimal nnU-Net v2 raw dataset with grey PNGs."""
    for i in range(n):
        write_png(root / "imagesTr" / f"c{i}_0000.png", noise_image((16, 18), seed=i))
        write_png(root / "labelsTr" / f"c{i}.png", disk_mask((16, 18), 1))
    write_png(root / "imagesTs" / "t0_0000.png", noise_image((16, 18), seed=9))
    content = {"channel_names": {"0": "zscore"}, "labels": {"background": 0, "cell": 1}, "numTraining": n,
               "file_ending": ".png"}
    (root / "dataset.json").write_text(json.dumps(content))
    return root


def tree_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder`, by relative path (to prove sources are untouched)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


def read_json(path: Path) -> dict:
    """Parse a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))
