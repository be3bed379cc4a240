"""``svseg plan-and-preprocess`` on hostile datasets, presets and options: refused before anything changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from . import files
from .conftest import DATASET
from .refusal import Case, assert_refused

Build = Callable[[Path, Path], Case]


def _plan(*extra: str, dataset: str = "Disks") -> list[str]:
    return ["plan-and-preprocess", "-d", dataset, "--preset", "cpu_quick", "-np", "1", *extra]


def _raw(home: Path) -> Path:
    return home / "raw" / DATASET


def _edit_json(path: Path, change: Callable[[dict], None]) -> Path:
    content = json.loads(path.read_text(encoding="utf-8"))
    change(content)
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def unknown_dataset(home: Path, tmp: Path) -> Case:
    return Case(_plan(dataset="NoSuchData"), ("NoSuchData",))


def unknown_preset(home: Path, tmp: Path) -> Case:
    return Case(["plan-and-preprocess", "-d", "Disks", "--preset", "no_such_preset"], ("no_such_preset",))


def preset_with_unregistered_network(home: Path, tmp: Path) -> Case:
    preset = tmp / "hostile.json"
    preset.write_text(json.dumps({"name": "hostile", "network": {"name": "os.system", "kwargs": {"command": "id"}}}))
    return Case(["plan-and-preprocess", "-d", "Disks", "--preset", str(preset)], (str(preset), "os.system"))


def preset_with_unknown_key(home: Path, tmp: Path) -> Case:
    preset = tmp / "hostile.json"
    preset.write_text(json.dumps({"network": {"name": "unet"}, "__reduce__": "os.system"}))
    return Case(["plan-and-preprocess", "-d", "Disks", "--preset", str(preset)], (str(preset), "__reduce__"))


def preset_not_text(home: Path, tmp: Path) -> Case:
    preset = tmp / "binary.json"
    preset.write_bytes(b"\xff\xfe\x00\x81 not text")
    return Case(["plan-and-preprocess", "-d", "Disks", "--preset", str(preset)], (str(preset),))


def preset_deeply_nested(home: Path, tmp: Path) -> Case:
    preset = tmp / "deep.json"
    preset.write_text("[" * 100_000 + "]" * 100_000)
    return Case(["plan-and-preprocess", "-d", "Disks", "--preset", str(preset)], (str(preset),))


def negative_gpu_memory(home: Path, tmp: Path) -> Case:
    return Case(_plan("--gpu-memory-gb", "-3"), ("--gpu-memory-gb",))


def text_gpu_memory(home: Path, tmp: Path) -> Case:
    return Case(_plan("--gpu-memory-gb", "lots"), ("--gpu-memory-gb",))


def zero_processes(home: Path, tmp: Path) -> Case:
    return Case(["plan-and-preprocess", "-d", "Disks", "-np", "0"], ("-np",))


def unknown_amplification(home: Path, tmp: Path) -> Case:
    return Case(_plan("--amplification", "x10"), ("--amplification",))


def hostile_reader_in_dataset_json(home: Path, tmp: Path) -> Case:
    path = _edit_json(_raw(home) / "dataset.json", lambda d: d.update(overwrite_image_reader_writer="load_json"))
    return Case(_plan(), (str(path), "overwrite_image_reader_writer"))


def reader_that_is_a_module(home: Path, tmp: Path) -> Case:
    path = _edit_json(_raw(home) / "dataset.json", lambda d: d.update(overwrite_image_reader_writer="os"))
    return Case(_plan(), (str(path), "overwrite_image_reader_writer"))


def corrupted_dataset_json(home: Path, tmp: Path) -> Case:
    path = _raw(home) / "dataset.json"
    path.write_text(path.read_text(encoding="utf-8")[:-9], encoding="utf-8")
    return Case(_plan(), (str(path),))


def dataset_json_not_an_object(home: Path, tmp: Path) -> Case:
    path = _raw(home) / "dataset.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    return Case(_plan(), (str(path),))


def dataset_json_without_labels(home: Path, tmp: Path) -> Case:
    path = _edit_json(_raw(home) / "dataset.json", lambda d: d.pop("labels"))
    return Case(_plan(), (str(path), "labels"))


def label_value_outside_labels(home: Path, tmp: Path) -> Case:
    label = _raw(home) / "labelsTr" / "disk_003.png"
    mask = np.asarray(PILImage.open(label)).copy()
    mask[mask == 1] = 3
    PILImage.fromarray(mask).save(label)
    return Case(_plan(), (str(label), "3"))


def truncated_raw_image(home: Path, tmp: Path) -> Case:
    image = files.truncate(_raw(home) / "imagesTr" / "disk_002_0000.png", 0.5)
    return Case(_plan(), (str(image),))


def empty_raw_label(home: Path, tmp: Path) -> Case:
    label = _raw(home) / "labelsTr" / "disk_005.png"
    label.write_bytes(b"")
    return Case(_plan(), (str(label),))


def missing_raw_label(home: Path, tmp: Path) -> Case:
    label = _raw(home) / "labelsTr" / "disk_006.png"
    label.unlink()
    return Case(_plan(), (str(label),))


def label_of_another_size(home: Path, tmp: Path) -> Case:
    label = _raw(home) / "labelsTr" / "disk_001.png"
    files.mask_png(label, shape=(32, 64), value=1)
    return Case(_plan(), (str(label),))


def preprocessed_folder_is_a_file(home: Path, tmp: Path) -> Case:
    import shutil

    folder = home / "preprocessed" / DATASET
    shutil.rmtree(folder)
    folder.write_text("a file where the preprocessed dataset goes\n")
    return Case(_plan(), (str(folder),))


def corrupted_plans_file(home: Path, tmp: Path) -> Case:
    plans = home / "preprocessed" / DATASET / "svsegPlans.json"
    plans.write_text('{"configurations": ', encoding="utf-8")
    return Case(_plan(), (str(plans),))


CASES: dict[str, Build] = {build.__name__: build for build in (
    unknown_dataset, unknown_preset, preset_with_unregistered_network, preset_with_unknown_key, preset_not_text,
    preset_deeply_nested, negative_gpu_memory, text_gpu_memory, zero_processes, unknown_amplification,
    hostile_reader_in_dataset_json, reader_that_is_a_module, corrupted_dataset_json, dataset_json_not_an_object,
    dataset_json_without_labels, label_value_outside_labels, truncated_raw_image, empty_raw_label, missing_raw_label,
    label_of_another_size, preprocessed_folder_is_a_file, corrupted_plans_file,
)}


@pytest.mark.parametrize("name", list(CASES))
def test_plan_and_preprocess_refuses(name: str, home: Path, tmp_path: Path) -> None:
    case = CASES[name](home, tmp_path)
    assert_refused(case, home, tmp_path)


def test_a_second_run_of_the_dataset_is_refused_while_the_first_holds_the_lock(home: Path, tmp_path: Path) -> None:
    """The lock of a live run (here: held by this process) refuses the second run, naming the lock file."""
    from svseg.planning.api import LOCK_FILE
    from svseg.utils.locks import run_lock

    lock = home / "preprocessed" / DATASET / LOCK_FILE
    with run_lock(lock, "svseg plan-and-preprocess -d Disks (the first run)"):
        assert_refused(Case(_plan(), (str(lock),)), home, tmp_path)
