"""Readers and writers keep pixels and geometry exactly (checked against SimpleITK/Pillow directly)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image as PILImage

from svseg.errors import SvsegError
from svseg.io import file_ending, read_image, read_mask, stem_of, write_image, write_mask_like

DIRECTION = (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


def _volume(path: Path) -> np.ndarray:
    array = np.random.default_rng(0).normal(size=(4, 6, 5)).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.75, 0.5, 3.0))
    image.SetOrigin((10.0, -5.0, 2.5))
    image.SetDirection(DIRECTION)
    sitk.WriteImage(image, str(path))
    return array


@pytest.mark.parametrize("ending", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_volume_round_trip_keeps_geometry(tmp_path: Path, ending: str) -> None:
    array = _volume(tmp_path / f"src{ending}")
    image = read_image(tmp_path / f"src{ending}")
    assert image.is_volume and image.spatial_shape == (4, 6, 5)
    np.testing.assert_array_equal(image.array, array)
    write_image(tmp_path / f"copy{ending}", image)
    reference = sitk.ReadImage(str(tmp_path / f"copy{ending}"))
    np.testing.assert_allclose(reference.GetSpacing(), (0.75, 0.5, 3.0), rtol=1e-6)
    np.testing.assert_allclose(reference.GetOrigin(), (10.0, -5.0, 2.5), atol=1e-5)
    np.testing.assert_allclose(reference.GetDirection(), DIRECTION, atol=1e-6)


def test_mask_written_like_reference_has_its_geometry(tmp_path: Path) -> None:
    _volume(tmp_path / "ct.nii.gz")
    reference = read_image(tmp_path / "ct.nii.gz")
    mask = np.zeros(reference.spatial_shape, dtype=np.uint8)
    mask[1, 2:4, 1:3] = 2
    write_mask_like(tmp_path / "mask.nii.gz", mask, reference)
    written = read_mask(tmp_path / "mask.nii.gz")
    np.testing.assert_array_equal(written.array, mask)
    assert written.geometry_matches(reference) == []


def test_png_grey_rgb_and_palette(tmp_path: Path) -> None:
    rgb = (np.arange(4 * 5 * 3) % 256).astype(np.uint8).reshape(4, 5, 3)
    PILImage.fromarray(rgb).save(tmp_path / "rgb.png")
    image = read_image(tmp_path / "rgb.png")
    assert image.num_channels == 3 and image.spatial_shape == (4, 5)
    np.testing.assert_array_equal(image.array, rgb)

    indices = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    palette_image = PILImage.fromarray(indices, mode="P")
    palette_image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
    palette_image.save(tmp_path / "mask.png")
    mask = read_mask(tmp_path / "mask.png")
    np.testing.assert_array_equal(mask.array, indices)
    assert mask.palette is not None and mask.palette[1] == (255, 0, 0)


def test_grey_mask_stored_as_rgb_is_reduced(tmp_path: Path) -> None:
    grey = np.array([[0, 255], [255, 0]], dtype=np.uint8)
    PILImage.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png").array, grey)


def test_tiff_2d_and_stack(tmp_path: Path) -> None:
    import tifffile

    tifffile.imwrite(tmp_path / "a.tif", np.ones((7, 9), dtype=np.uint16) * 300)
    tifffile.imwrite(tmp_path / "b.tiff", np.zeros((3, 7, 9), dtype=np.uint8))
    assert read_image(tmp_path / "a.tif").array.max() == 300
    stack = read_image(tmp_path / "b.tiff")
    assert stack.is_volume and stack.spatial_shape == (3, 7, 9)


def test_dicom_series_is_read_with_geometry(tmp_path: Path) -> None:
    series = tmp_path / "series"
    series.mkdir()
    volume = sitk.GetImageFromArray(np.arange(3 * 8 * 8, dtype=np.int16).reshape(3, 8, 8))
    volume.SetSpacing((0.6, 0.6, 2.0))
    volume.SetOrigin((1.0, 2.0, 3.0))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for index in range(3):
        slice_image = volume[:, :, index]
        slice_image.SetMetaData("0020|0032", "\\".join(map(str, volume.TransformIndexToPhysicalPoint((0, 0, index)))))
        slice_image.SetMetaData("0020|0013", str(index + 1))
        slice_image.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1")
        slice_image.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        slice_image.SetMetaData("0008|0060", "CT")
        writer.SetFileName(str(series / f"{index}.dcm"))
        writer.Execute(slice_image)
    image = read_image(series)
    assert image.spatial_shape == (3, 8, 8)
    np.testing.assert_allclose(image.spacing, (0.6, 0.6, 2.0), rtol=1e-5)
    np.testing.assert_allclose(image.origin, (1.0, 2.0, 3.0), atol=1e-4)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"not an image", "bad.png", "cannot be read"),
        (b"", "empty.nii.gz", "empty"),
        (b"x", "notes.txt", "unsupported"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, content: bytes, name: str, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SvsegError, match=message) as info:
        read_image(tmp_path / name)
    assert name in str(info.value)


def test_missing_file_and_non_dicom_folder(tmp_path: Path) -> None:
    with pytest.raises(SvsegError, match="no such file"):
        read_image(tmp_path / "missing.nii.gz")
    with pytest.raises(SvsegError, match="no DICOM series"):
        read_image(tmp_path)


def test_endings_and_stems() -> None:
    assert file_ending("A.NII.GZ") == ".nii.gz" and stem_of("case_1.nii.gz") == "case_1"
    assert file_ending("x.jpeg") == ".jpeg" and stem_of("a.b.png") == "a.b"
    assert file_ending("x.txt") == ""


def _cut_in_half(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def _noise_volume(path: Path, shape=(20, 64, 64)) -> np.ndarray:
    """A real-sized int16 volume (noise does not compress away, so half the file is half the voxels)."""
    array = (np.random.default_rng(1).random(shape) * 1000).astype(np.int16)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    return array


@pytest.mark.parametrize("ending", [".nii.gz", ".nii"])
def test_a_truncated_nifti_is_refused_naming_the_file(tmp_path: Path, ending: str) -> None:
    from svseg.datasets.case_reader import read_case_sources

    whole = _noise_volume(tmp_path / f"whole{ending}")
    cut = _cut_in_half(tmp_path / f"whole{ending}", tmp_path / f"cut{ending}")
    silent = sitk.GetArrayFromImage(sitk.ReadImage(str(cut)))  # why the check exists: SimpleITK pads with 0
    assert silent.shape == whole.shape and np.count_nonzero(silent == 0) > whole.size // 3
    for read in (read_image, read_mask, lambda path: read_case_sources([path])):
        with pytest.raises(SvsegError, match=rf"cut{re.escape(ending)}: file is truncated") as info:
            read(cut)
        assert "\n" not in str(info.value)
    np.testing.assert_array_equal(read_image(tmp_path / f"whole{ending}").array, whole)


def test_a_truncated_4d_nifti_or_one_cut_inside_its_header_is_refused(tmp_path: Path) -> None:
    from svseg.io.source_files import read_source

    parts = [sitk.GetImageFromArray((np.random.default_rng(c).random((8, 32, 32)) * 999).astype(np.int16))
             for c in range(2)]
    sitk.WriteImage(sitk.JoinSeries(parts), str(tmp_path / "four.nii.gz"))
    cut = _cut_in_half(tmp_path / "four.nii.gz", tmp_path / "four_cut.nii.gz")
    with pytest.raises(SvsegError, match=r"four_cut\.nii\.gz: file is truncated"):
        read_source(cut)
    head = tmp_path / "head.nii.gz"
    head.write_bytes((tmp_path / "four.nii.gz").read_bytes()[:60])
    with pytest.raises(SvsegError, match=r"head\.nii\.gz: file is truncated or corrupt"):
        read_image(head)


def test_nan_or_infinite_intensities_are_refused_with_their_count(tmp_path: Path) -> None:
    import tifffile

    from svseg.io.source_files import read_source

    volume = np.ones((4, 6, 5), np.float32)
    volume[0, 0, :3] = np.nan
    volume[1, 1, 1] = np.inf
    sitk.WriteImage(sitk.GetImageFromArray(volume), str(tmp_path / "nan.nii.gz"))
    with pytest.raises(SvsegError, match=r"nan\.nii\.gz: 4 of 120 voxels are NaN or infinite"):
        read_source(tmp_path / "nan.nii.gz")
    image = np.zeros((6, 5), np.float32)
    image[2, 2] = -np.inf
    tifffile.imwrite(tmp_path / "inf.tif", image)
    with pytest.raises(SvsegError, match=r"inf\.tif: 1 of 30 pixels are NaN or infinite"):
        read_source(tmp_path / "inf.tif")


def test_a_symlink_loop_is_reported_as_such(tmp_path: Path) -> None:
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    with pytest.raises(SvsegError, match=r"a\.png: symbolic link loop"):
        read_image(tmp_path / "a.png")


def test_gdcm_finds_no_series_without_printing_to_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    import svseg.io  # noqa: F401  (switches ITK's warning printout off)

    assert sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(tmp_path)) == ()
    assert sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path)) == ()
    with pytest.raises(SvsegError, match="no DICOM series"):
        read_image(tmp_path)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_nifti_checks_accept_multi_member_gzip_and_count_nan_in_plain_nii(tmp_path: Path) -> None:
    import gzip

    whole = _noise_volume(tmp_path / "one.nii.gz", shape=(6, 32, 32))
    raw = gzip.decompress((tmp_path / "one.nii.gz").read_bytes())
    half = len(raw) // 2
    (tmp_path / "two.nii.gz").write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))  # valid gzip
    np.testing.assert_array_equal(read_image(tmp_path / "two.nii.gz").array, whole)
    volume = np.ones((3, 16, 16), np.float64)
    volume[2, 3, :5] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(volume), str(tmp_path / "nan.nii"))
    with pytest.raises(SvsegError, match=r"nan\.nii: 5 of 768 voxels are NaN or infinite"):
        read_image(tmp_path / "nan.nii")
