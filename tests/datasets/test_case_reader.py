"""Reading a case's files for the import: as the files hold them (scan), then under the dataset's rule (write)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from svseg.datasets.case_reader import read_case_images, read_case_label, read_case_sources
from svseg.io.channel_rule import COMPONENTS, GREY_IMAGES, RGB_IMAGES, ChannelRule

from .makers import noise_image, write_palette_png, write_png


def test_rgba_loses_alpha_and_the_rule_decides_grey_or_rgb(tmp_path: Path) -> None:
    rgba = noise_image((6, 7, 4), seed=1)
    rgba[..., 3] = 255
    write_png(tmp_path / "rgba.png", rgba)
    grey = noise_image((6, 7), seed=2)
    write_png(tmp_path / "grey_rgb.png", np.stack([grey] * 3, axis=-1))
    [colour], [info] = read_case_sources([tmp_path / "rgba.png"])
    assert colour.num_channels == 3 and np.array_equal(colour.image.array, rgba[..., :3]) and info.kind == "colour"
    [plain], [info] = read_case_sources([tmp_path / "grey_rgb.png"])
    assert plain.num_channels == 3 and info.kind == "equal_rgb"  # as the file holds it, before the rule
    [as_grey] = read_case_images(ChannelRule(2, 1, GREY_IMAGES, 1), [tmp_path / "grey_rgb.png"])
    assert as_grey.num_channels == 1 and np.array_equal(as_grey.image.array, grey)
    [as_rgb] = read_case_images(ChannelRule(2, 1, RGB_IMAGES, 3), [tmp_path / "grey_rgb.png"])
    assert np.array_equal(as_rgb.image.array, np.stack([grey] * 3, axis=-1))


def test_palette_image_becomes_rgb_but_palette_mask_keeps_indices(tmp_path: Path) -> None:
    indices = np.array([[0, 1], [2, 1]], np.uint8)
    colours = [(0, 0, 0), (255, 0, 0), (0, 0, 255)]
    write_palette_png(tmp_path / "p.png", indices, colours)
    [image] = read_case_images(ChannelRule(2, 1, RGB_IMAGES, 3), [tmp_path / "p.png"])
    assert image.image.array[0, 1].tolist() == [255, 0, 0] and image.image.palette is None
    mask = read_case_label(tmp_path / "p.png")
    assert np.array_equal(mask.array, indices) and mask.palette[2] == (0, 0, 255)


def test_4d_and_vector_volumes_split_into_channels(tmp_path: Path) -> None:
    parts = [sitk.GetImageFromArray(noise_image((3, 4, 5), seed=s, dtype=np.int16)) for s in range(3)]
    for part in parts:
        part.SetSpacing((1.0, 2.0, 3.0))
    sitk.WriteImage(sitk.JoinSeries(parts), str(tmp_path / "four.nii.gz"))
    vector = sitk.Compose(parts)
    sitk.WriteImage(vector, str(tmp_path / "vector.nrrd"))
    for name in ("four.nii.gz", "vector.nrrd"):
        channels = read_case_images(ChannelRule(3, 1, COMPONENTS, 3), [tmp_path / name])
        assert [c.index for c in channels] == [0, 1, 2]
        assert np.array_equal(channels[2].image.array, noise_image((3, 4, 5), seed=2, dtype=np.int16))
        assert channels[1].image.spacing == (1.0, 2.0, 3.0)


def test_channels_of_several_files_come_in_order(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", noise_image((4, 4), seed=1))
    write_png(tmp_path / "b.png", noise_image((4, 4), seed=2))
    channels = read_case_images(ChannelRule(2, 2, GREY_IMAGES, 2), [tmp_path / "a.png", tmp_path / "b.png"])
    assert [c.source.name for c in channels] == ["a.png", "b.png"] and channels[0].index is None
    assert np.array_equal(channels[1].image.array, noise_image((4, 4), seed=2))
