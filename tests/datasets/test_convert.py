"""Writing one case into the dataset folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from svseg.datasets.convert import case_paths, output_ending, write_case
from svseg.datasets.labels import LabelPlan
from svseg.datasets.pairing import CaseSource
from svseg.io import read_image
from svseg.io.channel_rule import COMPONENTS, GREY_IMAGES, RGB_IMAGES, ChannelRule
from svseg.io.source_files import SourceInfo

from .makers import disk_mask, noise_image, volume_mask, write_png, write_volume

GREY, RGB = ChannelRule(2, 1, GREY_IMAGES, 1), ChannelRule(2, 1, RGB_IMAGES, 3)


def _info(kind: str, channels: int, dtype: str) -> SourceInfo:
    return SourceInfo(Path("x"), kind, channels, dtype, (2, 2), (1.0, 1.0))


def test_output_ending_follows_what_png_can_hold() -> None:
    assert output_ending(RGB, [_info("colour", 3, "uint8")]) == ".png"
    assert output_ending(GREY, [_info("grey", 1, "uint16")]) == ".png"
    assert output_ending(GREY, [_info("equal_rgb", 3, "uint16")]) == ".png"  # read as grey
    assert output_ending(RGB, [_info("colour", 3, "uint16")]) == ".tif"
    assert output_ending(RGB, [_info("grey", 1, "uint16")]) == ".tif"  # becomes 16-bit RGB
    assert output_ending(GREY, [_info("grey", 1, "int16")]) == ".tif"
    assert output_ending(ChannelRule(3, 1, COMPONENTS, 2), [_info("volume", 2, "int16")]) == ".nii.gz"


def test_case_paths_follow_nnunet_naming(tmp_path: Path) -> None:
    images, label = case_paths(tmp_path, CaseSource("k", (), None, test=True), 2, ".nii.gz")
    assert [p.relative_to(tmp_path).as_posix() for p in images] == ["imagesTs/k_0000.nii.gz", "imagesTs/k_0001.nii.gz"]
    assert label.relative_to(tmp_path).as_posix() == "labelsTs/k.nii.gz"


def test_2d_case_is_written_with_mapped_labels(tmp_path: Path) -> None:
    write_png(tmp_path / "src" / "a.jpg", noise_image((8, 8, 3), 1), quality=100)
    write_png(tmp_path / "src" / "a_mask.png", disk_mask((8, 8), 255, 2, (4, 4)))
    case = CaseSource("a", (tmp_path / "src" / "a.jpg",), tmp_path / "src" / "a_mask.png")
    written = write_case(tmp_path / "out", case, ".png", LabelPlan(("background", "x"), {0: 0, 255: 1}), RGB)
    assert [p.name for p in written] == ["a_0000.png", "a.png"]
    assert np.asarray(PILImage.open(written[1])).max() == 1


def test_non_nifti_volumes_go_through_simpleitk_with_geometry(tmp_path: Path) -> None:
    write_volume(tmp_path / "v.nrrd", noise_image((3, 5, 5), 1, dtype=np.int16))
    write_volume(tmp_path / "m.nrrd", volume_mask((3, 5, 5), values=(4,)))
    case = CaseSource("v", (tmp_path / "v.nrrd",), tmp_path / "m.nrrd")
    written = write_case(tmp_path / "out", case, ".nii.gz", LabelPlan(("background", "x"), {0: 0, 4: 1}),
                         ChannelRule(3, 1, COMPONENTS, 1))
    out, ref = read_image(written[1]), read_image(tmp_path / "m.nrrd")
    assert out.array.max() == 1 and not out.geometry_matches(ref)
