"""``import_dataset`` on the two shapes users hold that import once refused: JPEG masks and ``CASE_000k`` files.

JPEG masks are imported as NumPy's ``decoded > 127`` of Pillow's decoding, with the rule in
dataset.json; nnU-Net-style channel files with masks named after the case are one case each,
with the same cases predict finds in the same folder, and the same pixels as the files hold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image as PILImage

from svseg.datasets import import_dataset
from svseg.errors import SvsegError
from svseg.inference.inputs import list_cases
from svseg.io.lossy_masks import RULE
from svseg.paths import raw_root

from .makers import disk_mask, noise_image, read_json, tree_hashes, write_png, write_volume

SHAPE = (40, 48)


def _jpeg_source(root: Path, n: int = 3) -> Path:
    for i in range(n):
        write_png(root / "images" / f"polyp{i}.jpg", noise_image((*SHAPE, 3), seed=i), quality=90)
        write_png(root / "labels" / f"polyp{i}.jpg", disk_mask(SHAPE, 255, radius=9 + i, centre=(18, 20 + i)),
                  quality=75)
    return root


def test_jpeg_masks_import_as_value_above_127(tmp_path: Path) -> None:
    source = _jpeg_source(tmp_path / "src")
    before = tree_hashes(source)
    result = import_dataset(source, "Polyps")
    content = read_json(result.folder / "dataset.json")
    assert content["labels"] == {"background": 0, "foreground": 1}
    assert content["svseg"]["label_mapping"] == {"0": 0, "255": 1}
    assert content["svseg"]["lossy_masks"] == {"files": 3, "rule": RULE}
    for i in range(3):
        noisy = np.asarray(PILImage.open(source / "labels" / f"polyp{i}.jpg"))
        assert len(np.unique(noisy)) > 2
        imported = np.asarray(PILImage.open(result.folder / "labelsTr" / f"polyp{i}.png"))
        np.testing.assert_array_equal(imported, (noisy > 127).astype(np.uint8))
    assert tree_hashes(source) == before


def test_png_masks_record_no_lossy_rule(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for i in range(2):
        write_png(source / "images" / f"c{i}.png", noise_image(SHAPE, seed=i))
        write_png(source / "labels" / f"c{i}.png", disk_mask(SHAPE, 255))
    assert "lossy_masks" not in read_json(import_dataset(source, "Clean").folder / "dataset.json")["svseg"]


def test_a_multi_class_jpeg_mask_is_refused_and_nothing_written(tmp_path: Path) -> None:
    source = _jpeg_source(tmp_path / "src")
    classes = disk_mask(SHAPE, 255, radius=6, centre=(12, 12)) | disk_mask(SHAPE, 128, radius=6, centre=(28, 34))
    write_png(source / "labels" / "polyp1.jpg", classes, quality=90)
    with pytest.raises(SvsegError, match=r"polyp1\.jpg: \d+ mid-grey pixels .* save the masks as PNG") as caught:
        import_dataset(source, "Polyps")
    assert "\n" not in str(caught.value)
    assert not list(raw_root().glob("Dataset*"))


def _channel_source(root: Path, n: int = 3, channels: int = 2) -> Path:
    for i in range(n):
        for k in range(channels):
            write_volume(root / "images" / f"brain_{i:02d}_{k:04d}.nii.gz",
                         noise_image((4, 12, 10), seed=10 * i + k, dtype=np.int16))
        mask = np.zeros((4, 12, 10), np.uint8)
        mask[1:3, 2 + i:6, 3:7] = 1
        write_volume(root / "labels" / f"brain_{i:02d}.nii.gz", mask)
    return root


def test_channel_files_import_as_one_case_each_like_predict_reads_them(tmp_path: Path) -> None:
    source = _channel_source(tmp_path / "src")
    result = import_dataset(source, "Brain", channel_names="T1,T2")
    content = read_json(result.folder / "dataset.json")
    assert result.num_training == 3 and content["channel_names"] == {"0": "T1", "1": "T2"}
    assert content["svseg"]["input_channels"]["files_per_case"] == 2
    assert content["svseg"]["cases"]["brain_01"] == "images/brain_01_0000.nii.gz"
    written = sorted(path.name for path in (result.folder / "imagesTr").iterdir())
    assert written == [f"brain_{i:02d}_{k:04d}.nii.gz" for i in range(3) for k in range(2)]
    for name in written:
        np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(result.folder / "imagesTr" / name))),
                                      sitk.GetArrayFromImage(sitk.ReadImage(str(source / "images" / name))))
    predicted = list_cases(source / "images", tmp_path / "masks", num_channels=2)
    assert sorted(case.output.name for case in predicted) == sorted(
        f"{case_id}.nii.gz" for case_id in content["svseg"]["cases"])


def test_a_gap_in_a_cases_channel_files_is_refused(tmp_path: Path) -> None:
    source = _channel_source(tmp_path / "src")
    (source / "images" / "brain_02_0001.nii.gz").rename(source / "images" / "brain_02_0002.nii.gz")
    with pytest.raises(SvsegError, match=r"brain_02_NNNN\.nii\.gz: case 'brain_02' has channel files _0000, _0002"):
        import_dataset(source, "Brain")
    assert not list(raw_root().glob("Dataset*"))
