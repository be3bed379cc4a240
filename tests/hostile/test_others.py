"""``svseg validate``, ``svseg demo`` and ``svseg compare`` on hostile input: exit 2, one line, nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from .conftest import DATASET
from .refusal import Case, assert_refused

Build = Callable[[Path, Path], Case]


def _raw(home: Path) -> Path:
    return home / "raw" / DATASET


def validate_unknown_dataset(home: Path, tmp: Path) -> Case:
    return Case(["validate", "-d", "Elsewhere"], ("Elsewhere",))


def validate_hostile_reader(home: Path, tmp: Path) -> Case:
    path = _raw(home) / "dataset.json"
    content = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**content, "overwrite_image_reader_writer": "os"}), encoding="utf-8")
    return Case(["validate", "-d", "Disks"], (str(path), "overwrite_image_reader_writer"))


def validate_corrupted_dataset_json(home: Path, tmp: Path) -> Case:
    path = _raw(home) / "dataset.json"
    path.write_bytes(b"\xff\xfe{")
    return Case(["validate", "-d", "Disks"], (str(path),))


def validate_label_outside_labels(home: Path, tmp: Path) -> Case:
    label = _raw(home) / "labelsTr" / "disk_002.png"
    mask = np.asarray(PILImage.open(label)).copy()
    mask[mask == 1] = 5
    PILImage.fromarray(mask).save(label)
    return Case(["validate", "-d", "Disks"], (str(label),))


def _demo(tmp: Path, *extra: str, out: Path | None = None) -> list[str]:
    return ["demo", "--out", str(out or tmp / "demo"), "--device", "cpu", *extra]


def demo_unknown_data(home: Path, tmp: Path) -> Case:
    return Case(_demo(tmp, "--data", "4d"), ("--data",))


def demo_negative_minutes(home: Path, tmp: Path) -> Case:
    return Case(_demo(tmp, "--minutes", "-1"), ("--minutes",))


def demo_minutes_not_a_number(home: Path, tmp: Path) -> Case:
    return Case(_demo(tmp, "--minutes", "five"), ("--minutes",))


def demo_out_under_a_file(home: Path, tmp: Path) -> Case:
    (tmp / "blocker").write_text("a file\n")
    return Case(_demo(tmp, out=tmp / "blocker" / "demo"), (str(tmp / "blocker"),))


def demo_unknown_device(home: Path, tmp: Path) -> Case:
    return Case(["demo", "--out", str(tmp / "demo"), "--device", "tpu"], ("'tpu'",))


def compare_unknown_arch(home: Path, tmp: Path) -> Case:
    return Case(["compare", "-d", "Disks", "--archs", "unet,resnet9000", "--device", "cpu"], ("resnet9000",))


def compare_unknown_dataset(home: Path, tmp: Path) -> Case:
    return Case(["compare", "-d", "Elsewhere", "--device", "cpu"], ("Elsewhere",))


def compare_fold_nine(home: Path, tmp: Path) -> Case:
    return Case(["compare", "-d", "Disks", "-f", "9", "--archs", "unet,svanet_tiny", "--device", "cpu"], ("9",))


def compare_no_archs(home: Path, tmp: Path) -> Case:
    return Case(["compare", "-d", "Disks", "--archs", ",", "--device", "cpu"], ("--archs",))


def compare_unknown_device(home: Path, tmp: Path) -> Case:
    return Case(["compare", "-d", "Disks", "--archs", "unet,svanet_tiny", "--device", "tpu"], ("'tpu'",))


def unknown_command(home: Path, tmp: Path) -> Case:
    return Case(["segment", "-i", str(tmp)], ("segment",))


CASES: dict[str, Build] = {build.__name__: build for build in (
    validate_unknown_dataset, validate_hostile_reader, validate_corrupted_dataset_json, validate_label_outside_labels,
    demo_unknown_data, demo_negative_minutes, demo_minutes_not_a_number, demo_out_under_a_file, demo_unknown_device,
    compare_unknown_arch, compare_unknown_dataset, compare_fold_nine, compare_no_archs, compare_unknown_device,
    unknown_command,
)}


@pytest.mark.parametrize("name", list(CASES))
def test_validate_demo_and_compare_refuse(name: str, home: Path, tmp_path: Path) -> None:
    case = CASES[name](home, tmp_path)
    assert_refused(case, home, tmp_path)
