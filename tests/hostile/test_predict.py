"""``svseg predict`` on hostile inputs, outputs, options and model folders: refused before any mask is written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from . import files
from .conftest import MODEL
from .refusal import Case, assert_refused

Build = Callable[[Path, Path], Case]
PROBE = "torch.nn.functional.torch.os.system"


def _predict(source: Path, out: Path, *extra: str, model: str | None = "-d") -> list[str]:
    chosen = ["-d", "Disks"] if model == "-d" else (["-m", model] if model else [])
    return ["predict", "-i", str(source), "-o", str(out), *chosen, "--device", "cpu", "--no-tta", *extra]


def _model(home: Path) -> Path:
    return home / MODEL


def missing_input(home: Path, tmp: Path) -> Case:
    return Case(_predict(tmp / "nothing_here", tmp / "out"), (str(tmp / "nothing_here"),))


def empty_input_folder(home: Path, tmp: Path) -> Case:
    (tmp / "scans").mkdir()
    return Case(_predict(tmp / "scans", tmp / "out"), (str(tmp / "scans"),))


def output_is_the_input(home: Path, tmp: Path) -> Case:
    scans = files.scans(tmp / "scans")
    return Case(_predict(scans, scans), (str(scans),))


def output_under_a_file(home: Path, tmp: Path) -> Case:
    (tmp / "blocker").write_text("a file\n")
    return Case(_predict(files.scans(tmp / "scans"), tmp / "blocker" / "out"), (str(tmp / "blocker"),))


def output_is_a_file(home: Path, tmp: Path) -> Case:
    (tmp / "masks.png").write_text("a file\n")
    return Case(_predict(files.scans(tmp / "scans"), tmp / "masks.png"), (str(tmp / "masks.png"),))


def unknown_arch(home: Path, tmp: Path) -> Case:
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out", "--arch", "resnet9000"), ("resnet9000",))


def several_models_without_arch(home: Path, tmp: Path) -> Case:
    other = _model(home).with_name("LSNetTrainer__svsegPlans__2d")
    shutil.copytree(_model(home), other)
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out"), (str(_model(home).name), str(other.name)))


def unknown_dataset(home: Path, tmp: Path) -> Case:
    args = ["predict", "-i", str(files.scans(tmp / "scans")), "-o", str(tmp / "out"), "-d", "Elsewhere"]
    return Case(args, ("Elsewhere",))


def no_model_anywhere(home: Path, tmp: Path) -> Case:
    shutil.rmtree(home / "results")
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out", model=None), (str(home / "results"),))


def model_folder_missing(home: Path, tmp: Path) -> Case:
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out", model=str(tmp / "no_model")),
                (str(tmp / "no_model"),))


def malicious_checkpoint(home: Path, tmp: Path) -> Case:
    checkpoint = files.malicious_pickle(_model(home) / "fold_0" / "checkpoint_final.pth", tmp / "MARKER")
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out"), (str(checkpoint),))


def truncated_checkpoint(home: Path, tmp: Path) -> Case:
    checkpoint = files.truncate(_model(home) / "fold_0" / "checkpoint_final.pth", 0.5)
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out"), (str(checkpoint),))


def checkpoint_of_another_network(home: Path, tmp: Path) -> Case:
    import torch

    from svseg.training.checkpoints import read_checkpoint

    checkpoint = _model(home) / "fold_0" / "checkpoint_final.pth"
    loaded = read_checkpoint(checkpoint)
    loaded["network_weights"] = {"encoder.stem.weight": torch.zeros(3, 1, 7, 7)}
    torch.save(loaded, checkpoint)
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out"), (str(checkpoint),))


def hostile_plans(home: Path, tmp: Path) -> Case:
    plans = _model(home) / "plans.json"
    content = json.loads(plans.read_text(encoding="utf-8"))
    content["configurations"]["2d"]["architecture"]["arch_kwargs"].update(
        nonlin=PROBE, nonlin_kwargs={"command": f"touch {tmp / 'MARKER'}"})
    plans.write_text(json.dumps(content), encoding="utf-8")
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out"), (str(plans), "arch_kwargs.nonlin"))


def deeply_nested_plans(home: Path, tmp: Path) -> Case:
    plans = _model(home) / "plans.json"
    plans.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out", model=str(_model(home))), (str(plans),))


def hostile_reader_in_model_dataset_json(home: Path, tmp: Path) -> Case:
    path = _model(home) / "dataset.json"
    content = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**content, "overwrite_image_reader_writer": "load_json"}), encoding="utf-8")
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out"), (str(path), "overwrite_image_reader_writer"))


def true_colour_for_a_grey_model(home: Path, tmp: Path) -> Case:
    scans = files.scans(tmp / "scans")
    colour = np.zeros((64, 64, 3), np.uint8)
    colour[..., 0], colour[..., 2] = 200, 30
    PILImage.fromarray(colour).save(scans / "colour.png")
    return Case(_predict(scans, tmp / "out"), (str(scans / "colour.png"),))


def two_channels_for_a_grey_model(home: Path, tmp: Path) -> Case:
    import SimpleITK as sitk

    scans = files.scans(tmp / "scans")
    channels = [sitk.GetImageFromArray(files.box_volume(seed, shape=(1, 64, 64))) for seed in (1, 2)]
    sitk.WriteImage(sitk.JoinSeries(channels), str(scans / "pair.nii.gz"))  # 4D: two channels of one slice
    return Case(_predict(scans, tmp / "out"), (str(scans / "pair.nii.gz"),))


def truncated_png(home: Path, tmp: Path) -> Case:
    scans = files.scans(tmp / "scans")
    files.truncate(scans / "s1.png", 0.5)
    return Case(_predict(scans, tmp / "out"), (str(scans / "s1.png"),))


def text_named_png(home: Path, tmp: Path) -> Case:
    scans = files.scans(tmp / "scans")
    (scans / "notes.png").write_text("meeting notes, not a scan\n")
    return Case(_predict(scans, tmp / "out"), (str(scans / "notes.png"),))


def symlink_loop_input(home: Path, tmp: Path) -> Case:
    loop = files.symlink_loop(tmp / "loop.png")
    return Case(_predict(loop, tmp / "out"), (str(loop),))


def two_inputs_one_output_name(home: Path, tmp: Path) -> Case:
    first, second = files.grey_png(tmp / "a" / "scan.png"), files.grey_png(tmp / "b" / "scan.png", seed=1)
    args = _predict(first, tmp / "out", "-i", str(second))
    return Case(args, (str(second), "scan.png"))


def fold_not_trained(home: Path, tmp: Path) -> Case:
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out", "-f", "3"), ("3",))


def fold_not_a_number(home: Path, tmp: Path) -> Case:
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out", "-f", "x"), ("'x'",))


def checkpoint_not_saved(home: Path, tmp: Path) -> Case:
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out", "--checkpoint", "best"), ("checkpoint_best.pth",))


def checkpoint_unknown(home: Path, tmp: Path) -> Case:
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out", "--checkpoint", "../../etc/passwd"),
                ("--checkpoint",))


def zero_parts(home: Path, tmp: Path) -> Case:
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out", "--num-parts", "0"), ("--num-parts",))


def part_out_of_range(home: Path, tmp: Path) -> Case:
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out", "--num-parts", "2", "--part-id", "2"),
                ("--part-id",))


def zero_batch(home: Path, tmp: Path) -> Case:
    return Case(_predict(files.scans(tmp / "scans"), tmp / "out", "--batch-size", "0"), ("--batch-size",))


def unknown_device(home: Path, tmp: Path) -> Case:
    args = ["predict", "-i", str(files.scans(tmp / "scans")), "-o", str(tmp / "out"), "-d", "Disks", "--device", "tpu"]
    return Case(args, ("'tpu'",))


CASES: dict[str, Build] = {build.__name__: build for build in (
    missing_input, empty_input_folder, output_is_the_input, output_under_a_file, output_is_a_file, unknown_arch,
    several_models_without_arch, unknown_dataset, no_model_anywhere, model_folder_missing, malicious_checkpoint,
    truncated_checkpoint, checkpoint_of_another_network, hostile_plans, deeply_nested_plans,
    hostile_reader_in_model_dataset_json, true_colour_for_a_grey_model, two_channels_for_a_grey_model, truncated_png,
    text_named_png, symlink_loop_input, two_inputs_one_output_name, fold_not_trained, fold_not_a_number,
    checkpoint_not_saved, checkpoint_unknown, zero_parts, part_out_of_range, zero_batch, unknown_device,
)}


@pytest.mark.parametrize("name", list(CASES))
def test_predict_refuses(name: str, home: Path, tmp_path: Path) -> None:
    case = CASES[name](home, tmp_path)
    assert_refused(case, home, tmp_path)
