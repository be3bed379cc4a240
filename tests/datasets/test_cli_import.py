"""``svseg import`` / ``svseg validate`` at the CLI edge.

Every bad input exits with code 2, names the offending file in a one-line message, writes
nothing under the raw root and leaves the source folder byte for byte unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from svseg.cli import app
from svseg.paths import raw_root

from .makers import (
    disk_mask,
    noise_image,
    paired_2d,
    paired_volumes,
    tree_hashes,
    volume_mask,
    write_png,
    write_tiff,
    write_volume,
)

runner = CliRunner()

Builder = Callable[[Path], tuple[Path, list[str], str]]


def _mismatched_sizes(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3)
    write_png(source / "labels" / "case1.png", disk_mask((20, 25)))
    return source, [], "case1.png"


def _non_integer_labels(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3)
    (source / "labels" / "case2.png").unlink()
    write_tiff(source / "labels" / "case2.tif", disk_mask((20, 24), 1).astype(np.float32) * 0.5)
    return source, [], "case2.tif"


def _values_outside_declared(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3)
    mask = disk_mask((20, 24), 255)
    mask[0:3, 0:3] = 128
    write_png(source / "labels" / "case0.png", mask)
    return source, ["--labels", "background,lesion"], "case0.png"


def _smoothed_gradient(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3)
    write_png(source / "labels" / "case1.png", np.tile(np.linspace(0, 255, 24).astype(np.uint8), (20, 1)))
    return source, [], "case1.png"


def _missing_label(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3)
    write_png(source / "images" / "lonely.png", noise_image((20, 24), seed=7))
    return source, [], "lonely.png"


def _unreadable(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3)
    (source / "images" / "case2.png").write_bytes(b"\x00garbage, not a PNG" * 10)
    return source, [], "case2.png"


def _empty_folder(tmp: Path) -> tuple[Path, list[str], str]:
    (tmp / "nothing_here").mkdir()
    return tmp / "nothing_here", [], "nothing_here"


def _empty_images_folder(tmp: Path) -> tuple[Path, list[str], str]:
    (tmp / "src" / "images").mkdir(parents=True)
    (tmp / "src" / "labels").mkdir()
    return tmp / "src", [], "images"


def _empty_file(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3)
    (source / "labels" / "case0.png").write_bytes(b"")
    return source, [], "case0.png"


def _mixed_channels(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_volumes(tmp / "src", n=3)
    write_volume(source / "images" / "vol1.nii.gz", noise_image((4, 12, 10, 2), seed=1, dtype=np.int16))
    return source, [], "vol1.nii.gz"


def _truncated_nifti(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_volumes(tmp / "src", n=3, shape=(12, 48, 40))
    whole = (source / "images" / "vol1.nii.gz").read_bytes()
    (source / "images" / "vol1.nii.gz").write_bytes(whole[: len(whole) // 2])
    return source, [], "vol1.nii.gz: file is truncated"


def _nan_image(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3, ending=".tif")
    image = noise_image((20, 24), seed=1).astype(np.float32)
    image[3, 4:6] = np.nan
    write_tiff(source / "images" / "case1.tif", image)
    return source, [], "case1.tif: 2 of 480 pixels are NaN or infinite"


def _sixteen_bit_rgb_named_rgb_to_0_1(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=2, ending=".tif")
    for i in range(2):
        write_tiff(source / "images" / f"case{i}.tif", noise_image((20, 24, 3), seed=i).astype(np.uint16) * 256)
    return source, ["--channel-names", "rgb_to_0_1,rgb_to_0_1,rgb_to_0_1"], "case0.tif: uint16 pixels, but rgb_to_0_1"


def _symlink_loop(tmp: Path) -> tuple[Path, list[str], str]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "loop").symlink_to(tmp / "back")
    (tmp / "back").symlink_to(tmp / "loop")
    return tmp / "loop", [], "loop: symbolic link loop"


def _spacing_mismatch(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_volumes(tmp / "src", n=2)
    write_volume(source / "labels" / "vol1.nii.gz", volume_mask((4, 12, 10)), spacing=(0.7, 0.8, 5.0))
    return source, [], "vol1.nii.gz"


def _duplicate_stems(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3)
    write_tiff(source / "images" / "case0.tif", noise_image((20, 24), seed=5))
    return source, [], "case0.png"


def _no_such_path(tmp: Path) -> tuple[Path, list[str], str]:
    return tmp / "does_not_exist", [], "does_not_exist"


def _path_escape_name(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3)
    return source, ["-n", "../x"], "../x"


def _one_case_only(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=1)
    return source, [], "images"


def _label_without_image(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3)
    write_png(source / "labels" / "orphan.png", disk_mask((20, 24)))
    return source, [], "orphan.png"


def _negative_labels(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_volumes(tmp / "src", n=2)
    write_volume(source / "labels" / "vol0.nii.gz", volume_mask((4, 12, 10)).astype(np.int16) - 1)
    return source, [], "vol0.nii.gz"


def _wrong_channel_names(tmp: Path) -> tuple[Path, list[str], str]:
    source = paired_2d(tmp / "src", n=3, rgb=True)
    return source, ["--channel-names", "CT"], "case0.png"


def _msd_missing_file(tmp: Path) -> tuple[Path, list[str], str]:
    from .makers import msd_task

    source = msd_task(tmp / "Task02")
    (source / "labelsTr" / "task_001.nii.gz").unlink()
    return source, [], "task_001.nii.gz"


def _raw_dataset_with_bad_label(tmp: Path) -> tuple[Path, list[str], str]:
    from .makers import nnunet_raw

    source = nnunet_raw(tmp / "Dataset009_Bad")
    write_png(source / "labelsTr" / "c1.png", disk_mask((16, 18), 7))
    return source, [], "c1.png"


BAD_INPUTS: dict[str, Builder] = {
    "mismatched sizes": _mismatched_sizes,
    "non-integer labels": _non_integer_labels,
    "values outside declared labels": _values_outside_declared,
    "smoothed gradient mask": _smoothed_gradient,
    "missing label": _missing_label,
    "unreadable file": _unreadable,
    "empty folder": _empty_folder,
    "empty images folder": _empty_images_folder,
    "empty file": _empty_file,
    "mixed channel counts": _mixed_channels,
    "truncated nifti": _truncated_nifti,
    "NaN intensities": _nan_image,
    "16-bit RGB named rgb_to_0_1": _sixteen_bit_rgb_named_rgb_to_0_1,
    "source is a symlink loop": _symlink_loop,
    "spacing mismatch": _spacing_mismatch,
    "duplicate stems": _duplicate_stems,
    "path does not exist": _no_such_path,
    "name escapes the raw root": _path_escape_name,
    "fewer than two cases": _one_case_only,
    "label without image": _label_without_image,
    "negative label values": _negative_labels,
    "channel names do not fit": _wrong_channel_names,
    "MSD lists a missing file": _msd_missing_file,
    "raw dataset with undeclared label": _raw_dataset_with_bad_label,
}


def _import(source: Path, *extra: str):
    args = ["import", "-i", str(source)]
    if "-n" not in extra:
        args += ["-n", "Bad"]
    return runner.invoke(app, [*args, *extra])


def _first_line_of_error(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("svseg: error:"))


@pytest.mark.parametrize("builder", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_exits_2_names_the_file_and_writes_nothing(builder: Builder, tmp_path: Path) -> None:
    source, extra, named = builder(tmp_path)
    before = tree_hashes(source) if source.exists() else {}

    result = _import(source, *extra)

    assert result.exit_code == 2, result.output
    assert named in _first_line_of_error(result.output), result.output
    assert not raw_root().exists() or not any(raw_root().iterdir())
    assert (tree_hashes(source) if source.exists() else {}) == before


def test_all_problems_are_collected_and_counted(tmp_path: Path) -> None:
    source = paired_2d(tmp_path / "src", n=4)
    write_png(source / "labels" / "case1.png", disk_mask((20, 25)))
    (source / "images" / "case2.png").write_bytes(b"junk")
    write_png(source / "images" / "lonely.png", noise_image((20, 24), seed=7))
    result = _import(source)
    assert result.exit_code == 2
    line = _first_line_of_error(result.output)
    assert "and 2 more problems" in line
    for name in ("case1.png", "case2.png", "lonely.png"):
        assert name in result.output


def test_existing_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    source = paired_2d(tmp_path / "src", n=3)
    assert _import(source, "-n", "Taken").exit_code == 0
    existing = tree_hashes(raw_root())
    before = tree_hashes(source)
    for extra in (["-n", "Taken"], ["-n", "taken"], ["-n", "Other", "--id", "1"]):
        result = _import(source, *extra)
        assert result.exit_code == 2, result.output
        assert "Dataset001_Taken" in _first_line_of_error(result.output)
    assert tree_hashes(raw_root()) == existing and tree_hashes(source) == before


def test_import_then_validate_prints_the_summary(tmp_path: Path) -> None:
    source = paired_2d(tmp_path / "src", n=3)
    imported = _import(source, "-n", "Good", "--label", "nucleus")
    assert imported.exit_code == 0, imported.output
    assert "Dataset001_Good" in imported.output and "nucleus=1" in imported.output
    validated = runner.invoke(app, ["validate", "-d", "Good"])
    assert validated.exit_code == 0, validated.output
    assert "OK" in validated.output and "3 training" in validated.output


def test_validate_reports_a_dataset_broken_after_import(tmp_path: Path) -> None:
    source = paired_2d(tmp_path / "src", n=3)
    assert _import(source, "-n", "Broken").exit_code == 0
    folder = raw_root() / "Dataset001_Broken"
    write_png(folder / "labelsTr" / "case0.png", disk_mask((20, 24), 2))
    content = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    content["numTraining"] = 5
    (folder / "dataset.json").write_text(json.dumps(content))
    result = runner.invoke(app, ["validate", "-d", "1"])
    assert result.exit_code == 2
    line = _first_line_of_error(result.output)
    assert "dataset.json" in line and "and 1 more problem" in line
    assert "case0.png" in result.output


def test_validate_unknown_dataset_exits_2() -> None:
    result = runner.invoke(app, ["validate", "-d", "Nope"])
    assert result.exit_code == 2 and "Nope" in result.output
