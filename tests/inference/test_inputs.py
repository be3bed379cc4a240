"""Listing inputs, naming outputs, checking channels, and converting to nnU-Net's arrays.

The conversion is checked against nnU-Net's own readers (NaturalImage2DIO, SimpleITKIO) on the
same files: svseg must hand nnU-Net's preprocessing exactly what its reader would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
from PIL import Image as PILImage

from svseg.errors import SvsegError
from svseg.inference.inputs import (
    NATURAL_2D,
    VOLUME,
    Case,
    check_case,
    convention_for_reader,
    list_cases,
    probe_case,
    read_case,
    to_nnunet_array,
)
from svseg.io import read_image
from svseg.io.channel_rule import derive_rule

from .models import noisy_volume, write_dicom_series, write_volume


def _png(path: Path, shape=(12, 10), mode: str = "L") -> None:
    rng = np.random.default_rng(0)
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    PILImage.fromarray((rng.random((*shape, *channels)) * 255).astype(np.uint8), mode=mode).save(path)


def test_folder_lists_images_and_dicom_series_with_their_output_names(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    for name in ("my scan (1).png", "x.v2.jpg", "case_0000.bmp"):
        _png(scans / name)
    tifffile.imwrite(scans / "s.tiff", np.zeros((5, 6), np.uint16))
    tifffile.imwrite(scans / "t.tif", np.zeros((3, 5, 6), np.uint8))
    write_volume(scans / "ct.nii.gz", noisy_volume(shape=(3, 8, 8)))
    write_volume(scans / "mr.nrrd", noisy_volume(shape=(3, 8, 8)))
    write_volume(scans / "us.mha", noisy_volume(shape=(3, 8, 8)))
    write_dicom_series(scans / "series 1", noisy_volume(shape=(3, 8, 8)))
    (scans / "notes.txt").write_text("not an image")
    (scans / ".hidden.png").write_bytes(b"")
    cases = list_cases(scans, tmp_path / "masks")
    names = {case.source.name: case.output.name for case in cases}
    assert names == {
        "my scan (1).png": "my scan (1).png", "x.v2.jpg": "x.v2.png", "case_0000.bmp": "case_0000.png",
        "s.tiff": "s.tiff", "t.tif": "t.tif", "ct.nii.gz": "ct.nii.gz", "mr.nrrd": "mr.nrrd", "us.mha": "us.mha",
        "series 1": "series 1.nii.gz",
    }
    assert all(case.output.parent == tmp_path / "masks" for case in cases)
    assert next(c for c in cases if c.is_dicom).source.name == "series 1"


def test_a_folder_that_is_one_dicom_series_is_one_case(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "ser", noisy_volume(shape=(3, 8, 8)))
    cases = list_cases(tmp_path / "ser", tmp_path / "out")
    assert [(c.source.name, c.output.name) for c in cases] == [("ser", "ser.nii.gz")]


def test_bad_input_lists_name_the_problem(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SvsegError, match="no images to predict") as info:
        list_cases(empty, tmp_path / "out")
    assert str(empty) in str(info.value)
    scans = tmp_path / "scans"
    scans.mkdir()
    _png(scans / "a.png")
    _png(scans / "a.jpg")
    with pytest.raises(SvsegError, match=r"a\..*same mask a\.png"):
        list_cases(scans, tmp_path / "out")
    (scans / "a.jpg").unlink()
    with pytest.raises(SvsegError, match="output folder is the input folder"):
        list_cases(scans, scans)
    with pytest.raises(SvsegError, match="output folder is the input folder"):
        list_cases([scans / "a.png"], scans / ".")
    with pytest.raises(SvsegError, match=r"missing\.png: no such file"):
        list_cases([scans / "a.png", scans / "missing.png"], tmp_path / "out")
    (scans / "notes.txt").write_text("x")
    with pytest.raises(SvsegError, match=r"notes\.txt: unsupported file type"):
        list_cases([scans / "notes.txt"], tmp_path / "out")
    with pytest.raises(SvsegError, match="no DICOM series"):
        list_cases([empty], tmp_path / "out")
    (tmp_path / "file_out").write_text("")
    with pytest.raises(SvsegError, match="not a folder"):
        list_cases(scans, tmp_path / "file_out")


def test_probe_counts_channels_and_names_unreadable_files(tmp_path: Path) -> None:
    _png(tmp_path / "grey.png")
    _png(tmp_path / "rgb.png", mode="RGB")
    _png(tmp_path / "rgba.png", mode="RGBA")
    write_volume(tmp_path / "ct.nii.gz", noisy_volume(shape=(3, 8, 8)))
    vector = sitk.GetImageFromArray(np.zeros((3, 8, 8, 2), np.float32), isVector=True)
    sitk.WriteImage(vector, str(tmp_path / "two.nii.gz"))
    write_dicom_series(tmp_path / "dicom", noisy_volume(shape=(3, 8, 8)))
    found = {name: [info.channels for info in probe_case(Case(tmp_path / name, tmp_path / "o" / name))]
             for name in ("grey.png", "rgb.png", "rgba.png", "ct.nii.gz", "two.nii.gz", "dicom")}
    # alpha is dropped when read, so an RGBA file holds three channels
    assert found == {"grey.png": [1], "rgb.png": [3], "rgba.png": [3], "ct.nii.gz": [1], "two.nii.gz": [2],
                     "dicom": [1]}
    for name, content in (("bad.png", b"not a png"), ("bad.nii.gz", b"garbage"), ("empty.nrrd", b"")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(SvsegError) as info:
            probe_case(Case(tmp_path / name, tmp_path / "o" / name))
        assert name in str(info.value)
    with pytest.raises(SvsegError, match=r"two.nii.gz: has 2 channels, but the model expects 3 \(R, G, B\)"):
        check_case(Case(tmp_path / "two.nii.gz", tmp_path / "o.nii.gz"), derive_rule(["R", "G", "B"], ".nii.gz", "x"),
                   ["R", "G", "B"])
    check_case(Case(tmp_path / "grey.png", tmp_path / "o.png"), derive_rule(["R", "G", "B"], ".png", "x"),
               ["R", "G", "B"])  # a grey image for an RGB model: three equal channels


def test_2d_images_convert_like_nnunets_natural_image_reader(tmp_path: Path) -> None:
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO

    for mode in ("L", "RGB"):
        path = tmp_path / f"{mode}.png"
        _png(path, shape=(13, 9), mode=mode)
        data, properties = to_nnunet_array(read_image(path), NATURAL_2D)
        expected, expected_properties = NaturalImage2DIO().read_images([str(path)])
        assert data.dtype == np.float32
        np.testing.assert_array_equal(data, expected)
        assert list(properties["spacing"]) == list(expected_properties["spacing"])


def test_volumes_convert_like_nnunets_simpleitk_reader(tmp_path: Path) -> None:
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    path = tmp_path / "ct.nii.gz"
    write_volume(path, noisy_volume(shape=(4, 9, 7)), spacing=(0.5, 0.7, 3.0), origin=(1, 2, 3),
                 direction=(0, 1, 0, 1, 0, 0, 0, 0, -1))
    data, properties = to_nnunet_array(read_image(path), VOLUME)
    expected, expected_properties = SimpleITKIO().read_images([str(path)])
    np.testing.assert_array_equal(data, expected)
    np.testing.assert_allclose(properties["spacing"], expected_properties["spacing"])
    assert properties["spacing"] == pytest.approx([3.0, 0.7, 0.5])
    # a PNG under a volume model: one slice, SimpleITKIO's 2D spacing (999 * max, sy, sx)
    _png(tmp_path / "g.png")
    data, properties = to_nnunet_array(read_image(tmp_path / "g.png"), VOLUME)
    sitk_data, sitk_properties = SimpleITKIO().read_images([str(tmp_path / "g.png")])
    np.testing.assert_array_equal(data, sitk_data)
    assert properties["spacing"] == pytest.approx(list(sitk_properties["spacing"]))


def test_a_volume_under_a_2d_image_model_is_predicted_in_pixel_units(tmp_path: Path) -> None:
    path = tmp_path / "ct.nii.gz"
    volume = noisy_volume(shape=(4, 9, 7))
    write_volume(path, volume, spacing=(0.5, 0.7, 3.0))
    data, properties = to_nnunet_array(read_image(path), NATURAL_2D)
    assert data.shape == (1, 4, 9, 7)
    np.testing.assert_array_equal(data[0], volume)
    assert properties["spacing"] == [999.0, 1.0, 1.0]


def test_reader_conventions() -> None:
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO
    from nnunetv2.imageio.nibabel_reader_writer import NibabelIO
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO, SimpleITKIOWithReorient
    from nnunetv2.imageio.tif_reader_writer import Tiff3DIO

    assert convention_for_reader(NaturalImage2DIO) == NATURAL_2D
    assert {convention_for_reader(c) for c in (SimpleITKIO, NibabelIO, Tiff3DIO)} == {VOLUME}
    with pytest.raises(SvsegError, match="SimpleITKIOWithReorient"):
        convention_for_reader(SimpleITKIOWithReorient)


def _equal_rgb_png(path: Path, grey: np.ndarray) -> Path:
    PILImage.fromarray(np.stack([grey] * 3, axis=-1)).save(path)
    return path


def test_imported_equal_channel_rgb_and_new_equal_channel_rgb_inputs_become_the_same_grey(tmp_path: Path) -> None:
    """Issue 14: what import accepts, predict maps identically (the user's DSB2018 nuclei, in miniature)."""
    import json

    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO

    from svseg.datasets import import_dataset
    from svseg.io.channel_rule import rule_for_dataset_json

    rng = np.random.default_rng(14)
    greys = [(rng.random((24, 20)) * 255).astype(np.uint8) for _ in range(4)]
    for folder in ("train/images", "train/masks", "new_images"):
        (tmp_path / folder).mkdir(parents=True)
    for index, grey in enumerate(greys[:3]):
        _equal_rgb_png(tmp_path / "train" / "images" / f"n{index}.png", grey)
        mask = np.zeros(grey.shape, np.uint8)
        mask[5:12, 4:9] = 255
        PILImage.fromarray(mask).save(tmp_path / "train" / "masks" / f"n{index}.png")
    imported = import_dataset(tmp_path / "train", "Nuclei")
    # a separate folder of raw equal-channel RGB PNGs: copies of two training images and an unseen one
    _equal_rgb_png(tmp_path / "new_images" / "again0.png", greys[0])
    _equal_rgb_png(tmp_path / "new_images" / "again2.png", greys[2])
    _equal_rgb_png(tmp_path / "new_images" / "unseen.png", greys[3])
    dataset_json = imported.folder / "dataset.json"
    rule = rule_for_dataset_json(json.loads(dataset_json.read_text(encoding="utf-8")), dataset_json)
    names = ["zscore"]
    cases = {case.source.name: case for case in list_cases(tmp_path / "new_images", tmp_path / "masks", 1)}
    for case in cases.values():
        check_case(case, rule, names)
    for name, index in (("again0.png", 0), ("again2.png", 2), ("unseen.png", 3)):
        image = read_case(cases[name], rule, names)
        assert image.num_channels == 1
        np.testing.assert_array_equal(image.array, greys[index])
    for name, index in (("again0.png", 0), ("again2.png", 2)):  # the very pixels import wrote, as nnU-Net reads them
        written = imported.folder / "imagesTr" / f"n{index}_0000.png"
        data, _ = to_nnunet_array(read_case(cases[name], rule, names), NATURAL_2D)
        expected, _ = NaturalImage2DIO().read_images([str(written)])
        assert data.shape == (1, 1, 24, 20)
        np.testing.assert_array_equal(data, expected)
    colour = (rng.random((24, 20, 3)) * 255).astype(np.uint8)
    PILImage.fromarray(colour).save(tmp_path / "new_images" / "photo.png")
    [photo] = [c for c in list_cases(tmp_path / "new_images", tmp_path / "masks", 1) if c.source.name == "photo.png"]
    with pytest.raises(SvsegError) as error:
        check_case(photo, rule, names)
    assert str(error.value) == (f"{tmp_path / 'new_images' / 'photo.png'}: true-colour RGB (channels differ), but the "
                                "model was trained on grey images (equal-channel RGB read as grey at import)")


def test_inputs_that_are_symlink_loops_are_named_as_such(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    _png(scans / "a.png")
    (scans / "x.png").symlink_to(scans / "y.png")
    (scans / "y.png").symlink_to(scans / "x.png")
    with pytest.raises(SvsegError, match=r"x\.png: symbolic link loop"):
        list_cases(scans, tmp_path / "out")
    with pytest.raises(SvsegError, match=r"y\.png: symbolic link loop"):
        list_cases([scans / "a.png", scans / "y.png"], tmp_path / "out")


def test_a_4d_nifti_and_palette_and_rgba_images_map_to_the_models_channels(tmp_path: Path) -> None:
    from svseg.io.channel_rule import COMPONENTS, RGB_IMAGES, ChannelRule

    volumes = [noisy_volume(seed, shape=(3, 8, 8)) for seed in range(2)]
    joined = sitk.JoinSeries([sitk.GetImageFromArray(v) for v in volumes])
    sitk.WriteImage(joined, str(tmp_path / "mr.nii.gz"))
    case = Case(tmp_path / "mr.nii.gz", tmp_path / "o" / "mr.nii.gz")
    rule = ChannelRule(3, 2, COMPONENTS, 2)  # trained on two channel files per case
    check_case(case, rule, ["T1", "T2"])
    image = read_case(case, rule, ["T1", "T2"])
    assert image.is_volume and image.spatial_shape == (3, 8, 8)
    np.testing.assert_array_equal(image.array, np.stack(volumes, axis=-1))
    with pytest.raises(SvsegError, match=r"mr\.nii\.gz: has 2 channels, but the model expects 3 \(a, b, c\)"):
        check_case(case, ChannelRule(3, 3, COMPONENTS, 3), ["a", "b", "c"])
    rgb = ChannelRule(2, 1, RGB_IMAGES, 3)
    _png(tmp_path / "rgba.png", mode="RGBA")
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    palette = PILImage.fromarray(indices, mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    palette.save(tmp_path / "palette.png")
    for name in ("rgba.png", "palette.png"):
        case = Case(tmp_path / name, tmp_path / "o" / name)
        check_case(case, rgb, ["R", "G", "B"])
        np.testing.assert_array_equal(read_case(case, rgb).array,
                                      np.asarray(PILImage.open(tmp_path / name).convert("RGB")))
