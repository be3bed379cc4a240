"""Writing one case into the dataset folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from svseg.datasets.case_reader import Channel
from svseg.datasets.convert import case_paths, output_ending, write_case
from svseg.datasets.labels import LabelPlan
from svseg.datasets.pairing import CaseSource
from svseg.io import Image, read_image

from .makers import disk_mask, noise_image, volume_mask, write_png, write_volume


def _channel(array: np.ndarray, is_volume: bool = False) -> Channel:
    dims = 3 if is_volume else 2
    image = Image(array, (1.0,) * dims, (0.0,) * dims, tuple(np.eye(dims).ravel()), is_volume=is_volume)
    return Channel(image, Path("x"))


def test_output_ending_follows_what_png_can_hold() -> None:
    assert output_ending([_channel(np.zeros((2, 2, 3), np.uint8))]) == ".png"
    assert output_ending([_channel(np.zeros((2, 2), np.uint16))]) == ".png"
    assert output_ending([_channel(np.zeros((2, 2, 3), np.uint16))]) == ".tif"
    assert output_ending([_channel(np.zeros((2, 2), np.int16))]) == ".tif"
    assert output_ending([_channel(np.zeros((2, 2, 2), np.int16), is_volume=True)]) == ".nii.gz"


def test_case_paths_follow_nnunet_naming(tmp_path: Path) -> None:
    images, label = case_paths(tmp_path, CaseSource("k", (), None, test=True), 2, ".nii.gz")
    assert [p.relative_to(tmp_path).as_posix() for p in images] == ["imagesTs/k_0000.nii.gz", "imagesTs/k_0001.nii.gz"]
    assert label.relative_to(tmp_path).as_posix() == "labelsTs/k.nii.gz"


def test_2d_case_is_written_with_mapped_labels(tmp_path: Path) -> None:
    write_png(tmp_path / "src" / "a.jpg", noise_image((8, 8, 3), 1), quality=100)
    write_png(tmp_path / "src" / "a_mask.png", disk_mask((8, 8), 255, 2, (4, 4)))
    case = CaseSource("a", (tmp_path / "src" / "a.jpg",), tmp_path / "src" / "a_mask.png")
    written = write_case(tmp_path / "out", case, ".png", LabelPlan(("background", "x"), {0: 0, 255: 1}))
    assert [p.name for p in written] == ["a_0000.png", "a.png"]
    assert np.asarray(PILImage.open(written[1])).max() == 1


def test_non_nifti_volumes_go_through_simpleitk_with_geometry(tmp_path: Path) -> None:
    write_volume(tmp_path / "v.nrrd", noise_image((3, 5, 5), 1, dtype=np.int16))
    write_volume(tmp_path / "m.nrrd", volume_mask((3, 5, 5), values=(4,)))
    case = CaseSource("v", (tmp_path / "v.nrrd",), tmp_path / "m.nrrd")
    written = write_case(tmp_path / "out", case, ".nii.gz", LabelPlan(("background", "x"), {0: 0, 4: 1}))
    out, ref = read_image(written[1]), read_image(tmp_path / "m.nrrd")
    assert out.array.max() == 1 and not out.geometry_matches(ref)
