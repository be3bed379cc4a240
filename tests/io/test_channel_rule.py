"""The channel rule: decided from real files, stored as strict JSON, applied the same way by import and predict.

Pixels are checked against independent readers (Pillow's own conversions, nibabel, the arrays
the tests wrote), never against svseg's readers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
from PIL import Image as PILImage

from svseg.errors import SvsegError
from svseg.io.channel_rule import (
    COMPONENTS,
    GREY_IMAGES,
    RGB_IMAGES,
    ChannelRule,
    apply_rule,
    decide_rule,
    derive_rule,
    plan_case,
    rule_for_dataset_json,
)
from svseg.io.source_files import describe_source, probe_source, read_source

RNG = np.random.default_rng(7)
GREY = (RNG.random((12, 10)) * 255).astype(np.uint8)
COLOUR = (RNG.random((12, 10, 3)) * 255).astype(np.uint8)
VOLUME = (RNG.random((3, 12, 10)) * 1000).astype(np.int16)


def _png(path: Path, array: np.ndarray, **save_args) -> Path:
    PILImage.fromarray(array).save(path, **save_args)
    return path


def _palette(path: Path, colours: list[tuple[int, int, int]]) -> Path:
    image = PILImage.fromarray((GREY % len(colours)).astype(np.uint8), mode="P")
    image.putpalette([value for colour in colours for value in colour] + [0] * (768 - 3 * len(colours)))
    image.save(path)
    return path


def _volume(path: Path, array: np.ndarray, spacing=(0.7, 0.8, 2.5)) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


def _four_d(path: Path, count: int) -> Path:
    """A 4D NIfTI whose channel c is VOLUME + 100 c (nibabel's (x, y, z, c) order)."""
    data = np.stack([np.transpose(VOLUME + 100 * c) for c in range(count)], axis=-1)
    nib.save(nib.Nifti1Image(data, np.diag([0.7, 0.8, 2.5, 1.0])), str(path))
    return path


def _dicom(folder: Path) -> Path:
    folder.mkdir()
    volume = sitk.GetImageFromArray(VOLUME)
    volume.SetSpacing((0.6, 0.6, 2.0))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(VOLUME.shape[0]):
        plane = volume[:, :, z]
        for key, value in (("0020|0032", "\\".join(map(str, volume.TransformIndexToPhysicalPoint((0, 0, z))))),
                           ("0020|0013", str(z + 1)), ("0020|000e", "1.2.826.0.1.3680043.2.1125.9"),
                           ("0020|0037", "1\\0\\0\\0\\1\\0"), ("0008|0060", "MR")):
            plane.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"{z}.dcm"))
        writer.Execute(plane)
    return folder


def _files(tmp_path: Path) -> dict[str, Path]:
    """One file of every kind the rule handles."""
    return {
        "grey": _png(tmp_path / "grey.png", GREY),
        "equal_rgb": _png(tmp_path / "equal.png", np.stack([GREY] * 3, axis=-1)),
        "colour": _png(tmp_path / "colour.png", COLOUR),
        "palette": _palette(tmp_path / "palette.png", [(0, 0, 0), (255, 0, 0), (0, 90, 255)]),
        "grey_palette": _palette(tmp_path / "grey_palette.png", [(0, 0, 0), (128, 128, 128), (255, 255, 255)]),
        "rgba": _png(tmp_path / "rgba.png", np.dstack([COLOUR, np.full(GREY.shape, 255, np.uint8)])),
        "jpeg": _png(tmp_path / "photo.jpg", COLOUR, quality=95),
        "grey_jpeg": _png(tmp_path / "grey.jpg", GREY, quality=95),
        "tiff16": tifffile.imwrite(tmp_path / "deep.tif", GREY.astype(np.uint16) * 257) or tmp_path / "deep.tif",
        "float_tiff": tifffile.imwrite(tmp_path / "f.tif", GREY / 7.0) or tmp_path / "f.tif",
        "nifti": _volume(tmp_path / "ct.nii.gz", VOLUME),
        "four_d": _four_d(tmp_path / "four.nii.gz", 3),
        "dicom": _dicom(tmp_path / "series"),
    }


@pytest.mark.parametrize(("name", "kind", "channels", "dtype"), [
    ("grey", "grey", 1, "uint8"), ("equal_rgb", "equal_rgb", 3, "uint8"), ("colour", "colour", 3, "uint8"),
    ("palette", "colour", 3, "uint8"), ("grey_palette", "equal_rgb", 3, "uint8"), ("rgba", "colour", 3, "uint8"),
    ("jpeg", "colour", 3, "uint8"), ("grey_jpeg", "grey", 1, "uint8"), ("tiff16", "grey", 1, "uint16"),
    ("float_tiff", "grey", 1, "float64"), ("nifti", "volume", 1, "int16"), ("four_d", "volume", 3, "int16"),
    ("dicom", "volume", 1, "int16"),
])
def test_each_kind_of_file_is_summarised_from_pixels_and_from_headers(tmp_path: Path, name: str, kind: str,
                                                                      channels: int, dtype: str) -> None:
    path = _files(tmp_path)[name]
    info = describe_source(path, read_source(path))
    assert (info.kind, info.channels, info.dtype) == (kind, channels, dtype)
    probed = probe_source(path)  # headers only for volumes and DICOM
    assert (probed.kind, probed.channels, probed.size) == (kind, channels, info.size)
    if kind == "volume":
        assert probed.dtype == dtype
        compared = 2 if name == "dicom" else 3  # one DICOM file's header does not give the slice spacing
        np.testing.assert_allclose(probed.spacing[:compared], info.spacing[:compared], rtol=1e-5)


def test_2d_pixels_match_pillows_own_conversions(tmp_path: Path) -> None:
    files = _files(tmp_path)
    rgb, grey = ChannelRule(2, 1, RGB_IMAGES, 3), ChannelRule(2, 1, GREY_IMAGES, 1, grey_from_rgb=True)
    for name in ("palette", "rgba", "jpeg"):
        [channel] = apply_rule(rgb, [files[name]])
        np.testing.assert_array_equal(channel.image.array, np.asarray(PILImage.open(files[name]).convert("RGB")))
    [channel] = apply_rule(grey, [files["equal_rgb"]])
    np.testing.assert_array_equal(channel.image.array, GREY)
    [channel] = apply_rule(grey, [files["grey_palette"]])
    np.testing.assert_array_equal(channel.image.array, np.asarray(PILImage.open(files["grey_palette"]).convert("L")))
    [channel] = apply_rule(rgb, [files["grey"]])  # a grey image for an RGB model: three equal channels
    np.testing.assert_array_equal(channel.image.array, np.asarray(PILImage.open(files["grey"]).convert("RGB")))


def test_volumes_split_into_channels_like_nibabel_reads_them(tmp_path: Path) -> None:
    files = _files(tmp_path)
    channels = apply_rule(ChannelRule(3, 3, COMPONENTS, 3), [files["four_d"]])
    reference = np.asarray(nib.load(str(files["four_d"])).dataobj)
    assert [c.index for c in channels] == [0, 1, 2]
    for c, channel in enumerate(channels):
        np.testing.assert_array_equal(channel.image.array, np.transpose(reference[..., c]))
        np.testing.assert_array_equal(channel.image.array, VOLUME + 100 * c)
    [dicom] = apply_rule(ChannelRule(3, 1, COMPONENTS, 1), [files["dicom"]])
    np.testing.assert_array_equal(dicom.image.array, VOLUME)


def test_rule_is_decided_dataset_wide(tmp_path: Path) -> None:
    files = _files(tmp_path)

    def decided(*cases: tuple[str, ...]) -> ChannelRule:
        return decide_rule([[probe_source(files[name]) for name in case] for case in cases])

    assert decided(("equal_rgb",), ("grey_palette",), ("grey",)) == ChannelRule(2, 1, GREY_IMAGES, 1,
                                                                                 grey_from_rgb=True)
    assert decided(("grey",), ("tiff16",), ("float_tiff",), ("grey_jpeg",)) == ChannelRule(2, 1, GREY_IMAGES, 1)
    # mostly equal-channel RGB, one true colour: every case is RGB, none is refused
    assert decided(("equal_rgb",), ("equal_rgb",), ("grey",), ("colour",)) == ChannelRule(2, 1, RGB_IMAGES, 3)
    assert decided(("palette",), ("rgba",), ("jpeg",)) == ChannelRule(2, 1, RGB_IMAGES, 3)
    assert decided(("four_d",), ("four_d",)) == ChannelRule(3, 1, COMPONENTS, 3)
    assert decided(("nifti", "nifti"), ("nifti", "nifti")) == ChannelRule(3, 2, COMPONENTS, 2)
    assert decided(("dicom",), ("nifti",)) == ChannelRule(3, 1, COMPONENTS, 1)
    # odd cases do not decide (the scan reports them): a 2D image among volumes, a vector volume among images
    assert decided(("grey",), ("four_d",), ("four_d",)) == ChannelRule(3, 1, COMPONENTS, 3)
    assert decided(("four_d",), ("grey",), ("equal_rgb",)) == ChannelRule(2, 1, GREY_IMAGES, 1, grey_from_rgb=True)


def test_varying_alpha_is_dropped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    alpha = np.zeros(GREY.shape, np.uint8)
    alpha[:, :5] = 255
    path = _png(tmp_path / "cut_out.png", np.dstack([COLOUR, alpha]))
    with caplog.at_level(logging.WARNING):
        [channel] = apply_rule(ChannelRule(2, 1, RGB_IMAGES, 3), [path])
    np.testing.assert_array_equal(channel.image.array, COLOUR)
    assert "cut_out.png: transparency dropped" in caplog.text


def test_json_round_trip_through_a_dataset_json(tmp_path: Path) -> None:
    for rule in (ChannelRule(2, 1, GREY_IMAGES, 1, grey_from_rgb=True),
                 ChannelRule(2, 1, RGB_IMAGES, 3).with_channel_names(["rgb_to_0_1"] * 3),
                 ChannelRule(3, 1, COMPONENTS, 4)):
        content = {"channel_names": {str(c): "x" for c in range(rule.num_channels)}, "file_ending": ".png",
                   "svseg": {"input_channels": rule.to_json()}}
        (tmp_path / "dataset.json").write_text(json.dumps(content))
        loaded = json.loads((tmp_path / "dataset.json").read_text())
        assert rule_for_dataset_json(loaded, tmp_path / "dataset.json") == rule
    assert ChannelRule(2, 1, RGB_IMAGES, 3).with_channel_names(["RGB_to_0_1", "g", "b"]).needs_8bit


GOOD = {"dims": 2, "files_per_case": 1, "colour": "grey", "num_channels": 1, "needs_8bit": False,
        "grey_from_rgb": True, "version": 1}


@pytest.mark.parametrize(("change", "message"), [
    ({"extra": 1}, "unknown key(s) 'extra'"),
    ({"colour": None}, "'colour' must be str"),
    ({"colour": "purple"}, "colour must be one of grey, rgb, components, got 'purple'"),
    ({"num_channels": True}, "'num_channels' must be int, got True"),
    ({"num_channels": 1.0}, "'num_channels' must be int, got 1.0"),
    ({"num_channels": "1"}, "'num_channels' must be int"),
    ({"needs_8bit": 0}, "'needs_8bit' must be bool"),
    ({"dims": 4}, "dims must be 2 or 3"),
    ({"num_channels": 10**9, "files_per_case": 10**9}, "num_channels <= 1024"),
    ({"files_per_case": 0}, "files_per_case"),
    ({"colour": "rgb", "grey_from_rgb": False}, "num_channels must be 3 x files_per_case"),
    ({"colour": "components"}, "does not fit dims 2"),
    ({"colour": "rgb", "num_channels": 3}, "grey_from_rgb applies to grey images only"),
    ({"version": 2}, "version 2, written by a newer svseg"),
    ({"version": 0}, "version 0 is not 1"),
    ({"colour": "x" * 5000}, "..."),
])
def test_hostile_rule_json_is_refused_in_one_line_naming_the_file(tmp_path: Path, change: dict,
                                                                  message: str) -> None:
    record = {**GOOD, **change}
    with pytest.raises(SvsegError) as error:
        ChannelRule.from_json(record, tmp_path / "dataset.json")
    text = str(error.value)
    assert text.startswith(f"{tmp_path / 'dataset.json'}: svseg.input_channels") and message in text
    assert "\n" not in text and len(text) < 400


def test_rule_json_that_is_not_a_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dataset.json"
    for value in ([1, 2], "grey", None):
        with pytest.raises(SvsegError, match="must be a JSON object"):
            ChannelRule.from_json(value, path)
    missing = {key: value for key, value in GOOD.items() if key != "colour"}
    with pytest.raises(SvsegError, match="missing key"):
        ChannelRule.from_json(missing, path)
    content = {"channel_names": {"0": "a", "1": "b"}, "file_ending": ".png", "svseg": {"input_channels": GOOD}}
    with pytest.raises(SvsegError, match=r"gives 1 channel\(s\) but channel_names lists 2"):
        rule_for_dataset_json(content, path)
    with pytest.raises(SvsegError, match=r"dataset.json: channel_names must map"):
        rule_for_dataset_json({"channel_names": {"zero": "a"}, "file_ending": ".png"}, path)


@pytest.mark.parametrize(("names", "ending", "expected"), [
    (["zscore"], ".png", ChannelRule(2, 1, GREY_IMAGES, 1)),
    (["R", "G", "B"], ".png", ChannelRule(2, 1, RGB_IMAGES, 3)),
    (["rgb_to_0_1"] * 3, ".png", ChannelRule(2, 1, RGB_IMAGES, 3, needs_8bit=True)),
    (["rgb_to_0_1"] * 6, ".bmp", ChannelRule(2, 2, RGB_IMAGES, 6, needs_8bit=True)),
    (["a", "b"], ".tif", ChannelRule(2, 2, GREY_IMAGES, 2)),
    (["T1", "T2", "FLAIR", "T1c"], ".nii.gz", ChannelRule(3, 4, COMPONENTS, 4)),
    (["CT"], ".tiff", ChannelRule(3, 1, COMPONENTS, 1)),
])
def test_rule_derived_for_datasets_without_the_record(names: list[str], ending: str, expected: ChannelRule) -> None:
    content = {"channel_names": {str(i): n for i, n in enumerate(names)}, "file_ending": ending}
    assert rule_for_dataset_json(content, "dataset.json") == expected
    with pytest.raises(SvsegError, match=r"dataset.json: file_ending '\.jpg'"):
        derive_rule(names, ".jpg", "dataset.json")


def test_inputs_the_rule_cannot_map_name_the_file_and_why(tmp_path: Path) -> None:
    files = _files(tmp_path)
    grey_model = ChannelRule(2, 1, GREY_IMAGES, 1, grey_from_rgb=True)
    with pytest.raises(SvsegError) as error:
        apply_rule(grey_model, [files["colour"]], ["zscore"])
    assert str(error.value) == (f"{files['colour']}: true-colour RGB (channels differ), but the model was trained on "
                                "grey images (equal-channel RGB read as grey at import)")
    four = ChannelRule(3, 4, COMPONENTS, 4)
    two = _four_d(tmp_path / "two.nii.gz", 2)
    with pytest.raises(SvsegError, match=r"two\.nii\.gz: has 2 channels, but the model expects 4 \(T1, T2, T3, T4\)"):
        plan_case(four, [probe_source(two)], ["T1", "T2", "T3", "T4"])
    deep = tmp_path / "deep_rgb.tif"
    tifffile.imwrite(deep, COLOUR.astype(np.uint16) * 257)
    eight_bit = ChannelRule(2, 1, RGB_IMAGES, 3).with_channel_names(["rgb_to_0_1"] * 3)
    with pytest.raises(SvsegError, match=r"deep_rgb\.tif: uint16 pixels, but rgb_to_0_1 normalisation \(divide by "
                                         r"255\) needs 8-bit images"):
        plan_case(eight_bit, [probe_source(deep)])
    with pytest.raises(SvsegError, match=r"ct\.nii\.gz: a 3D volume, but the model was trained on 2D colour"):
        plan_case(ChannelRule(2, 1, RGB_IMAGES, 3), [probe_source(files["nifti"])])
    # what does map: a volume for a grey 2D model (slice by slice), a 4D NIfTI for a channel-file model
    assert plan_case(grey_model, [probe_source(files["nifti"])]) == (1,)
    assert plan_case(ChannelRule(3, 3, COMPONENTS, 3), [probe_source(files["four_d"])]) == (3,)
