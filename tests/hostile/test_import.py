"""``svseg import`` on hostile sources: exit 2, one line naming the file, no dataset, sources untouched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image as PILImage

from . import files
from .refusal import Case, assert_refused

Build = Callable[[Path, Path], Case]


def _import(source: Path, *extra: str, name: str = "Hostile") -> list[str]:
    return ["import", "-i", str(source), "-n", name, *extra]


def missing_folder(home: Path, tmp: Path) -> Case:
    return Case(_import(tmp / "nowhere"), (str(tmp / "nowhere"),))


def empty_folder(home: Path, tmp: Path) -> Case:
    (tmp / "src").mkdir()
    return Case(_import(tmp / "src"), (str(tmp / "src"),))


def images_without_masks(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    (source / "labels" / "c1.png").unlink()
    return Case(_import(source), (str(source / "images" / "c1.png"),))


def mask_with_40_grey_levels(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    ramp = (np.arange(64 * 64).reshape(64, 64) % 40 * 6).astype(np.uint8)
    PILImage.fromarray(ramp).save(source / "labels" / "c2.png")
    return Case(_import(source), (str(source / "labels" / "c2.png"), "40 distinct grey levels"))


def jpeg_mask_with_two_classes(home: Path, tmp: Path) -> Case:
    """0/128/255 saved as JPEG: the class at 128 cannot be told from compression noise."""
    source = files.paired_pngs(tmp / "src")
    classes = np.zeros((64, 64), np.uint8)
    classes[8:24, 8:24], classes[36:56, 30:50] = 255, 128
    PILImage.fromarray(classes).save(source / "labels" / "c1.jpg", quality=90)
    (source / "labels" / "c1.png").unlink()
    return Case(_import(source), (str(source / "labels" / "c1.jpg"), "mid-grey"))


def channel_files_with_a_gap(home: Path, tmp: Path) -> Case:
    """nnU-Net-style files with masks named after the cases, one case missing its _0001."""
    source = tmp / "src"
    for index in range(3):
        for channel in (0, 2 if index == 1 else 1):
            files.volume(source / "images" / f"v{index}_{channel:04d}.nii.gz", files.box_volume(index))
        files.volume(source / "labels" / f"v{index}.nii.gz", files.box_mask())
    return Case(_import(source), (str(source / "images" / "v1_NNNN.nii.gz"), "_0000, _0002"))


def mask_size_mismatch(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    files.mask_png(source / "labels" / "c0.png", shape=(32, 64))
    return Case(_import(source), (str(source / "labels" / "c0.png"),))


def nifti_geometry_mismatch(home: Path, tmp: Path) -> Case:
    source = files.paired_volumes(tmp / "src")
    files.volume(source / "labels" / "v1.nii.gz", files.box_mask(), spacing=(0.8, 0.8, 2.0))
    return Case(_import(source), (str(source / "labels" / "v1.nii.gz"), "spacing"))


def truncated_nifti(home: Path, tmp: Path) -> Case:
    source = files.paired_volumes(tmp / "src")
    files.truncated_gzip_nifti(source / "images" / "v0.nii.gz")
    files.volume(source / "labels" / "v0.nii.gz", files.box_mask(shape=(8, 32, 32)))
    return Case(_import(source), (str(source / "images" / "v0.nii.gz"), "truncated"))


def nan_image(home: Path, tmp: Path) -> Case:
    source = files.paired_volumes(tmp / "src")
    image = files.box_volume(2).astype(np.float32)
    image[0, 0, 0] = np.nan
    files.volume(source / "images" / "v2.nii.gz", image)
    return Case(_import(source), (str(source / "images" / "v2.nii.gz"), "NaN"))


def rgba_mask_varying_alpha(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[10:20, 10:20, :3] = 255
    rgba[..., 3] = np.linspace(0, 255, 64, dtype=np.uint8)[None, :]
    PILImage.fromarray(rgba, mode="RGBA").save(source / "labels" / "c1.png")
    return Case(_import(source), (str(source / "labels" / "c1.png"),))


def name_with_dot_dot(home: Path, tmp: Path) -> Case:
    return Case(_import(files.paired_pngs(tmp / "src"), name="../Escape"), ("'../Escape'",))


def absolute_name(home: Path, tmp: Path) -> Case:
    name = str(tmp / "Escape")
    return Case(_import(files.paired_pngs(tmp / "src"), name=name), (repr(name),))


def existing_name(home: Path, tmp: Path) -> Case:
    return Case(_import(files.paired_pngs(tmp / "src"), name="Disks"), (str(home / "raw" / "Dataset811_Disks"),))


def id_out_of_range(home: Path, tmp: Path) -> Case:
    return Case(_import(files.paired_pngs(tmp / "src"), "--id", "1000"), ("--id 1000",))


def id_already_used(home: Path, tmp: Path) -> Case:
    return Case(_import(files.paired_pngs(tmp / "src"), "--id", "811"), ("811", "Dataset811_Disks"))


def id_not_a_number(home: Path, tmp: Path) -> Case:
    return Case(_import(files.paired_pngs(tmp / "src"), "--id", "eleven"), ("--id",))


def symlink_loop_source(home: Path, tmp: Path) -> Case:
    return Case(_import(files.symlink_loop(tmp / "loop")), (str(tmp / "loop"), "loop"))


def symlink_loop_image(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    files.symlink_loop(source / "images" / "c9.png")
    files.mask_png(source / "labels" / "c9.png")
    return Case(_import(source), (str(source / "images" / "c9.png"), "loop"))


def symlink_loop_image_without_label(home: Path, tmp: Path) -> Case:
    """A looping link named like an image is reported as the loop, not as an image missing its label."""
    source = files.paired_pngs(tmp / "src")
    files.symlink_loop(source / "images" / "x.png")
    return Case(_import(source), (str(source / "images" / "x.png"), "loop"))


def symlink_loop_label(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    (source / "labels" / "c1.png").unlink()
    files.symlink_loop(source / "labels" / "c1.png")
    return Case(_import(source), (str(source / "labels" / "c1.png"), "loop"))


def dangling_symlink_image(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    (source / "images" / "c2.png").unlink()
    (source / "images" / "c2.png").symlink_to(tmp / "moved_away.png")
    return Case(_import(source), (str(source / "images" / "c2.png"), "no such file"))


def empty_file(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    (source / "images" / "c0.png").write_bytes(b"")
    return Case(_import(source), (str(source / "images" / "c0.png"),))


def text_named_png(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    (source / "images" / "c1.png").write_text("not an image, only a name that says so\n")
    return Case(_import(source), (str(source / "images" / "c1.png"),))


def truncated_png(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    files.truncate(source / "images" / "c2.png", 0.6)
    return Case(_import(source), (str(source / "images" / "c2.png"),))


def mask_4d(home: Path, tmp: Path) -> Case:
    source = files.paired_volumes(tmp / "src")
    stacked = sitk.JoinSeries([sitk.GetImageFromArray(files.box_mask())] * 2)
    sitk.WriteImage(stacked, str(source / "labels" / "v0.nii.gz"))
    return Case(_import(source), (str(source / "labels" / "v0.nii.gz"),))


def float_mask_fractions(home: Path, tmp: Path) -> Case:
    source = files.paired_volumes(tmp / "src")
    files.volume(source / "labels" / "v1.nii.gz", files.box_mask(dtype=np.float32) * 0.5)
    return Case(_import(source), (str(source / "labels" / "v1.nii.gz"), "non-integer"))


def negative_mask(home: Path, tmp: Path) -> Case:
    source = files.paired_volumes(tmp / "src")
    files.volume(source / "labels" / "v2.nii.gz", files.box_mask(value=-1, dtype=np.int16))
    return Case(_import(source), (str(source / "labels" / "v2.nii.gz"), "negative"))


def label_without_image(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    files.mask_png(source / "labels" / "orphan.png")
    return Case(_import(source), (str(source / "labels" / "orphan.png"),))


def duplicate_stems(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    PILImage.open(source / "images" / "c0.png").save(source / "images" / "c0.tif")
    return Case(_import(source), (str(source / "images"), "c0"))


def fraction_above_one(home: Path, tmp: Path) -> Case:
    return Case(_import(files.paired_pngs(tmp / "src"), "--test-fraction", "1.5"), ("--test-fraction",))


def split_unknown_case(home: Path, tmp: Path) -> Case:
    return Case(_import(files.paired_pngs(tmp / "src"), "--test-split", "c0,nosuch"), ("nosuch",))


def duplicate_label_names(home: Path, tmp: Path) -> Case:
    return Case(_import(files.paired_pngs(tmp / "src"), "--labels", "background,spot,spot"), ("--labels",))


def channel_names_count(home: Path, tmp: Path) -> Case:
    source = files.paired_pngs(tmp / "src")
    return Case(_import(source, "--channel-names", "T1,T2"), ("--channel-names",))


def more_values_than_labels(home: Path, tmp: Path) -> Case:
    source = files.paired_volumes(tmp / "src")
    files.volume(source / "labels" / "v0.nii.gz", files.box_mask(value=3))
    return Case(_import(source, "--labels", "background,organ"), ("--labels",))


def hostile_reader_in_nnunet_source(home: Path, tmp: Path) -> Case:
    """An nnU-Net raw dataset whose dataset.json names a reader by a name that is not one."""
    import shutil

    source = tmp / "Dataset123_Theirs"
    shutil.copytree(home / "raw" / "Dataset811_Disks", source)
    text = (source / "dataset.json").read_text(encoding="utf-8")
    (source / "dataset.json").write_text(text[:-1] + ', "overwrite_image_reader_writer": "load_json"}',
                                         encoding="utf-8")
    return Case(_import(source), (str(source / "dataset.json"), "overwrite_image_reader_writer"))


CASES: dict[str, Build] = {build.__name__: build for build in (
    missing_folder, empty_folder, images_without_masks, mask_with_40_grey_levels, jpeg_mask_with_two_classes,
    channel_files_with_a_gap, mask_size_mismatch,
    nifti_geometry_mismatch, truncated_nifti, nan_image, rgba_mask_varying_alpha, name_with_dot_dot, absolute_name,
    existing_name, id_out_of_range, id_already_used, id_not_a_number, symlink_loop_source, symlink_loop_image,
    symlink_loop_image_without_label, symlink_loop_label, dangling_symlink_image,
    empty_file, text_named_png, truncated_png, mask_4d, float_mask_fractions, negative_mask, label_without_image,
    duplicate_stems, fraction_above_one, split_unknown_case, duplicate_label_names, channel_names_count,
    more_values_than_labels, hostile_reader_in_nnunet_source,
)}


@pytest.mark.parametrize("name", list(CASES))
def test_import_refuses(name: str, home: Path, tmp_path: Path) -> None:
    case = CASES[name](home, tmp_path)
    assert_refused(case, home, tmp_path)


def test_import_refuses_a_raw_root_under_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SVSEG_HOME below a regular file: refused before any case is read, the file untouched."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the data root should be\n")
    monkeypatch.setenv("SVSEG_HOME", str(blocker / "home"))
    source = files.paired_pngs(tmp_path / "src")
    assert_refused(Case(_import(source), (str(blocker),)), tmp_path)
