"""``import_dataset`` on every supported layout: files, names, labels, geometry and provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image as PILImage

from svseg.datasets import import_dataset
from svseg.io import read_image
from svseg.paths import raw_root

from .makers import (
    disk_mask,
    msd_task,
    noise_image,
    paired_2d,
    paired_volumes,
    read_json,
    tree_hashes,
    volume_mask,
    write_dicom_series,
    write_palette_png,
    write_png,
    write_tiff,
    write_volume,
)


def _geometry(path: Path) -> tuple:
    image = sitk.ReadImage(str(path))
    return image.GetSpacing(), image.GetOrigin(), image.GetDirection()


def test_rgb_png_and_jpg_become_one_rgb_png_per_case(tmp_path: Path) -> None:
    source = paired_2d(tmp_path / "src", n=3, rgb=True)
    write_png(source / "images" / "case3.jpg", noise_image((20, 24, 3), seed=3), quality=95)
    write_png(source / "labels" / "case3.png", disk_mask((20, 24)))
    before = tree_hashes(source)

    result = import_dataset(source, "Skin")

    folder = raw_root() / "Dataset001_Skin"
    assert result.folder == folder and result.ref.dataset_id == 1 and result.num_training == 4
    assert sorted(p.name for p in (folder / "imagesTr").iterdir()) == [f"case{i}_0000.png" for i in range(4)]
    content = read_json(folder / "dataset.json")
    assert content["channel_names"] == {"0": "rgb_to_0_1", "1": "rgb_to_0_1", "2": "rgb_to_0_1"}
    assert content["labels"] == {"background": 0, "foreground": 1}
    assert content["file_ending"] == ".png" and content["numTraining"] == 4
    assert content["svseg"]["label_mapping"] == {"0": 0, "255": 1}
    assert content["svseg"]["layout"] == "paired-2d" and content["svseg"]["cases"]["case3"] == "images/case3.jpg"
    assert {"created", "svseg_version", "source"} <= set(content["svseg"])
    converted = np.asarray(PILImage.open(folder / "imagesTr" / "case3_0000.png"))
    assert converted.shape == (20, 24, 3)
    label = np.asarray(PILImage.open(folder / "labelsTr" / "case0.png"))
    assert set(np.unique(label)) == {0, 1}
    assert tree_hashes(source) == before


def test_grey_images_with_masks_folder_and_suffixed_names(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for i in range(3):
        write_png(source / "images" / f"img{i}.png", noise_image((16, 16), seed=i))
        write_png(source / "masks" / f"img{i}_mask.png", disk_mask((16, 16), 255))
    result = import_dataset(source, "Grey", label_names="lesion")
    assert result.labels == {"background": 0, "lesion": 1}
    assert result.channel_names == {"0": "zscore"}
    assert (result.folder / "labelsTr" / "img2.png").is_file()


def test_tiff_images_16_bit_stay_png_and_float_become_tif(tmp_path: Path) -> None:
    grey16 = tmp_path / "grey16"
    floats = tmp_path / "floats"
    for i in range(2):
        write_tiff(grey16 / "images" / f"t{i}.tif", (noise_image((12, 14), seed=i, dtype=np.uint16)))
        write_png(grey16 / "labels" / f"t{i}.png", disk_mask((12, 14), 1, radius=3, centre=(6, 6)))
        write_tiff(floats / "images" / f"t{i}.tiff", noise_image((12, 14), seed=i).astype(np.float32) / 7)
        write_tiff(floats / "labels" / f"t{i}.tif", disk_mask((12, 14), 1, radius=3, centre=(6, 6)))
    first = import_dataset(grey16, "Grey16")
    assert first.file_ending == ".png"
    stored = read_image(first.folder / "imagesTr" / "t1_0000.png")
    assert stored.array.dtype == np.uint16
    assert np.array_equal(stored.array, noise_image((12, 14), seed=1, dtype=np.uint16))
    second = import_dataset(floats, "Floats")
    assert second.file_ending == ".tif"
    assert read_image(second.folder / "imagesTr" / "t0_0000.tif").array.dtype == np.float32
    assert (second.folder / "labelsTr" / "t0.tif").is_file()


def test_palette_masks_map_indices_to_consecutive_labels(tmp_path: Path) -> None:
    source = tmp_path / "src"
    colours = [(0, 0, 0), (9, 9, 9), (255, 0, 0), (1, 1, 1), (2, 2, 2), (0, 255, 0)]
    for i in range(2):
        indices = np.zeros((16, 16), np.uint8)
        indices[2:5, 2:5] = 2
        indices[8:12, 8:12] = 5
        write_palette_png(source / "labels" / f"p{i}.png", indices, colours)
        write_png(source / "images" / f"p{i}.png", noise_image((16, 16), seed=i))
    result = import_dataset(source, "Palette")
    content = read_json(result.folder / "dataset.json")
    assert content["svseg"]["label_mapping"] == {"0": 0, "2": 1, "5": 2}
    assert content["svseg"]["palette"] == {"0": [0, 0, 0], "2": [255, 0, 0], "5": [0, 255, 0]}
    assert result.labels == {"background": 0, "label_1": 1, "label_2": 2}
    label = np.asarray(PILImage.open(result.folder / "labelsTr" / "p0.png"))
    assert label[3, 3] == 1 and label[9, 9] == 2 and label[0, 0] == 0


@pytest.mark.parametrize("ending", [".nii.gz", ".nii"])
def test_nifti_geometry_is_kept_exactly(tmp_path: Path, ending: str) -> None:
    source = paired_volumes(tmp_path / "src", n=2, ending=ending)
    result = import_dataset(source, "Vol", channel_names="CT")
    assert result.file_ending == ".nii.gz" and result.channel_names == {"0": "CT"}
    for i in range(2):
        for kind, out in (("images", f"imagesTr/vol{i}_0000.nii.gz"), ("labels", f"labelsTr/vol{i}.nii.gz")):
            src, dst = source / kind / f"vol{i}{ending}", result.folder / out
            assert _geometry(dst) == _geometry(src)
            assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(dst))),
                                  sitk.GetArrayFromImage(sitk.ReadImage(str(src))))
    assert result.labels == {"background": 0, "label_1": 1, "label_2": 2}


@pytest.mark.parametrize("ending", [".nrrd", ".mha", ".mhd"])
def test_nrrd_and_metaimage_become_nifti_with_their_geometry(tmp_path: Path, ending: str) -> None:
    source = paired_volumes(tmp_path / "src", n=2, ending=ending)
    result = import_dataset(source, "Conv")
    out = _geometry(result.folder / "imagesTr" / "vol0_0000.nii.gz")
    ref = _geometry(source / "images" / f"vol0{ending}")
    for got, want in zip(out, ref, strict=True):  # NIfTI headers store float32
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_dicom_series_cases_with_nifti_labels(tmp_path: Path) -> None:
    source = tmp_path / "src"
    spacing, origin = (0.5, 0.75, 2.5), (10.0, -20.0, 30.0)
    for i in range(2):
        volume = noise_image((3, 8, 6), seed=i, dtype=np.int16) - 100
        write_dicom_series(source / "images" / f"patient{i}", volume, spacing, origin, uid=f"1.2.3.{i}")
        write_volume(source / "labels" / f"patient{i}.nii.gz", volume_mask((3, 8, 6)),
                     spacing=spacing, origin=origin, direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    result = import_dataset(source, "Dicom")
    assert result.layout == "dicom-series" and result.channel_names == {"0": "CT"}
    image = read_image(result.folder / "imagesTr" / "patient1_0000.nii.gz")
    assert image.array.shape == (3, 8, 6) and image.array.min() < 0
    np.testing.assert_allclose(image.spacing, spacing)
    np.testing.assert_allclose(image.origin, origin)


def test_decathlon_task_splits_4d_images_into_channels(tmp_path: Path) -> None:
    source = msd_task(tmp_path / "Task01_Test")
    result = import_dataset(source, "Msd")
    assert result.layout == "msd" and result.num_training == 3 and result.num_test == 1
    assert result.channel_names == {"0": "CT", "1": "MR1"}
    assert result.labels == {"background": 0, "edema": 1, "tumour": 2}
    names = sorted(p.name for p in (result.folder / "imagesTr").iterdir())
    assert names[:2] == ["task_000_0000.nii.gz", "task_000_0001.nii.gz"] and len(names) == 6
    channel = read_image(result.folder / "imagesTr" / "task_001_0001.nii.gz")
    assert np.array_equal(channel.array, noise_image((4, 10, 8), seed=11, dtype=np.int16))
    assert channel.spacing == (1.0, 1.25, 3.0)
    assert (result.folder / "imagesTs" / "task_003_0001.nii.gz").is_file()


def test_nnunet_raw_dataset_is_copied_byte_for_byte(tmp_path: Path) -> None:
    from .makers import nnunet_raw

    source = nnunet_raw(tmp_path / "Dataset077_Cells")
    result = import_dataset(source, "Cells", dataset_id=12)
    assert result.folder.name == "Dataset012_Cells" and not result.in_place
    copied = tree_hashes(result.folder)
    original = tree_hashes(source)
    assert {k: v for k, v in copied.items() if k != "dataset.json"} == {
        k: v for k, v in original.items() if k != "dataset.json"}
    content = read_json(result.folder / "dataset.json")
    assert content["name"] == "Cells" and content["svseg"]["layout"] == "nnunet-raw"


def test_dataset_already_under_the_raw_root_is_registered_in_place(tmp_path: Path) -> None:
    from .makers import nnunet_raw

    folder = nnunet_raw(raw_root() / "Dataset005_Cells")
    before = tree_hashes(folder)
    result = import_dataset(folder, "Cells")
    assert result.in_place and result.ref.dataset_id == 5 and result.folder == folder
    assert tree_hashes(folder) == before


def test_test_split_options(tmp_path: Path) -> None:
    source = paired_2d(tmp_path / "src", n=5)
    write_png(source / "images" / "extra.png", noise_image((20, 24), seed=99))
    by_fraction = import_dataset(source, "A", test_fraction=0.2, unlabelled_as_test=True)
    assert (by_fraction.num_training, by_fraction.num_test) == (4, 2)
    assert (by_fraction.folder / "imagesTs" / "extra_0000.png").is_file()
    assert not (by_fraction.folder / "labelsTs" / "extra.png").exists()
    by_name = import_dataset(source, "B", test_split="case0,case4", unlabelled_as_test=True)
    test_cases = read_json(by_name.folder / "dataset.json")["svseg"]["test_cases"]
    assert test_cases == ["case0", "case4", "extra"]
    assert (by_name.folder / "labelsTs" / "case4.png").is_file()


def test_dicom_labels_stored_as_series(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for i in range(2):
        write_dicom_series(source / "images" / f"p{i}", noise_image((3, 6, 6), seed=i, dtype=np.int16),
                           modality="MR", uid=f"1.2.4.{i}")
        write_dicom_series(source / "labels" / f"p{i}", volume_mask((3, 6, 6)).astype(np.int16), uid=f"1.2.5.{i}")
    result = import_dataset(source, "DicomLabels")
    assert result.channel_names == {"0": "zscore"} and result.labels == {"background": 0, "foreground": 1}
    label = read_image(result.folder / "labelsTr" / "p0.nii.gz")
    assert np.array_equal(label.array, volume_mask((3, 6, 6)))


def test_tiff_z_stacks_import_as_volumes(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for i in range(2):
        write_tiff(source / "images" / f"s{i}.tif", noise_image((5, 9, 7), seed=i, dtype=np.uint16))
        write_tiff(source / "labels" / f"s{i}.tif", volume_mask((5, 9, 7)))
    result = import_dataset(source, "Stacks")
    assert result.file_ending == ".nii.gz"
    assert read_image(result.folder / "imagesTr" / "s1_0000.nii.gz").array.shape == (5, 9, 7)


def _equal_rgb(grey: np.ndarray) -> np.ndarray:
    return np.stack([grey] * 3, axis=-1)


def test_equal_channel_rgb_images_import_as_grey_and_the_rule_is_recorded(tmp_path: Path) -> None:
    source = tmp_path / "dsb"
    greys = [noise_image((20, 24), seed=i) for i in range(3)]
    for i, grey in enumerate(greys):
        write_png(source / "images" / f"nucleus{i}.png", _equal_rgb(grey))
        write_png(source / "masks" / f"nucleus{i}.png", disk_mask((20, 24)))
    result = import_dataset(source, "Nuclei")
    content = read_json(result.folder / "dataset.json")
    assert content["channel_names"] == {"0": "zscore"} and "channel_meaning" not in content["svseg"]
    assert content["svseg"]["input_channels"] == {"dims": 2, "files_per_case": 1, "colour": "grey", "num_channels": 1,
                                                  "needs_8bit": False, "grey_from_rgb": True, "version": 1}
    for i, grey in enumerate(greys):
        written = np.asarray(PILImage.open(result.folder / "imagesTr" / f"nucleus{i}_0000.png"))
        np.testing.assert_array_equal(written, grey)


def test_a_few_true_colour_images_make_every_image_rgb(tmp_path: Path) -> None:
    source = tmp_path / "mixed"
    grey = noise_image((20, 24), seed=1)
    write_png(source / "images" / "a.png", _equal_rgb(grey))
    write_png(source / "images" / "b.png", grey)
    write_png(source / "images" / "c.png", noise_image((20, 24, 3), seed=2))
    for name in "abc":
        write_png(source / "masks" / f"{name}.png", disk_mask((20, 24)))
    result = import_dataset(source, "Mixed")
    content = read_json(result.folder / "dataset.json")
    assert content["channel_names"] == {"0": "rgb_to_0_1", "1": "rgb_to_0_1", "2": "rgb_to_0_1"}
    assert content["svseg"]["input_channels"]["colour"] == "rgb" and content["svseg"]["input_channels"]["needs_8bit"]
    for name in "ab":  # the grey pictures hold three equal channels, exactly as Pillow expands grey to RGB
        written = np.asarray(PILImage.open(result.folder / "imagesTr" / f"{name}_0000.png"))
        np.testing.assert_array_equal(written, np.asarray(PILImage.fromarray(grey).convert("RGB")))


def test_msd_and_volume_rules_are_recorded(tmp_path: Path) -> None:
    decathlon = import_dataset(msd_task(tmp_path / "Task09_Two"), "TwoChannels")
    assert read_json(decathlon.folder / "dataset.json")["svseg"]["input_channels"] == {
        "dims": 3, "files_per_case": 1, "colour": "components", "num_channels": 2, "needs_8bit": False,
        "grey_from_rgb": False, "version": 1}
