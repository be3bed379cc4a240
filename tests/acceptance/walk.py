"""The user's five commands, run through the CLI as the README gives them, and what is checked after.

:func:`svseg` invokes ``svseg.cli.app`` in this process (typer's CliRunner) and fails the test
with the command's own output when the exit code is not the expected one. :func:`train_model`
runs import -> plan-and-preprocess (``--preset cpu_quick``) -> train (fold 0, 1 epoch of 2
iterations); :func:`predict_and_evaluate` runs predict on a folder of new raw files and
evaluate against the user's own masks for them. The ``check_*`` functions compare the results
with what :mod:`.checks` computes from the files without svseg.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from svseg.cli import app

from .checks import (
    assert_fractions,
    assert_same_geometry,
    ending,
    eroded,
    files_by_stem,
    image_dice,
    metrics,
    object_count,
    read,
    write_like,
)
from .userdata import UserFolders

runner = CliRunner()
FOLD = "0"
"""The README's fold. Fold ``all`` costs more here: nnU-Net then validates on every training case."""
PLAN_PROCESSES = ("-np", "1")
"""One planning process: with two, nnU-Net and svseg start five spawned workers, each importing torch and
nnU-Net (seconds each), for a handful of images."""
ToClasses = Callable[[np.ndarray], np.ndarray]


def svseg(*args: object, code: int = 0) -> str:
    """Run ``svseg ARGS``; a bug's exception propagates, a wrong exit code fails with the output."""
    argv = [str(a) for a in args]
    result = runner.invoke(app, argv)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == code, f"svseg {' '.join(argv)}: exit {result.exit_code}\n{result.output}"
    return result.output


@dataclass
class Walk:
    """One dataset's run of the commands: what each printed, how long it took, where the masks went."""

    name: str
    arch: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def step(self, key: str, *args: object) -> str:
        """Run one command, keeping what it printed and how long it took (also printed: pytest shows it on failure)."""
        start = time.perf_counter()
        self.outputs[key] = svseg(*args)
        self.seconds[key] = time.perf_counter() - start
        print(f"$ svseg {' '.join(str(a) for a in args)}  # {self.seconds[key]:.1f} s\n{self.outputs[key]}")
        return self.outputs[key]

    @property
    def arch_args(self) -> tuple[str, ...]:
        return ("--arch", self.arch) if self.arch else ()

    def timings(self) -> str:
        return f"{self.name}: " + ", ".join(f"{key} {seconds:.1f} s" for key, seconds in self.seconds.items())


def train_model(folders: UserFolders, name: str, import_args: tuple[str, ...] = (), arch: str | None = None) -> Walk:
    """import, plan-and-preprocess and train: the first three commands on the user's training folder."""
    run = Walk(name, arch)
    run.step("import", "import", "-i", folders.train, "-n", name, *import_args)
    run.step("plan", "plan-and-preprocess", "-d", name, "--preset", "cpu_quick", *PLAN_PROCESSES)
    run.step("train", "train", "-d", name, "-f", FOLD, *run.arch_args, "--epochs", "1", "--iters-per-epoch", "2")
    return run


def predict_and_evaluate(run: Walk, folders: UserFolders, masks: Path) -> Path:
    """predict the new raw files with the run's model, evaluate against the user's masks; the masks folder."""
    run.step(f"predict {masks.name}", "predict", "-i", folders.new_images, "-o", masks, "-d", run.name, *run.arch_args)
    run.step(f"evaluate {masks.name}", "evaluate", "-p", masks, "-g", folders.new_labels, "-d", run.name, "-j", "1")
    print(run.timings())
    return masks


def walk(folders: UserFolders, name: str, import_args: tuple[str, ...] = (), arch: str | None = None) -> Walk:
    """All five commands on one form, masks into ``<form>/masks``."""
    run = train_model(folders, name, import_args, arch)
    predict_and_evaluate(run, folders, folders.root / "masks")
    return run


def binary(values: np.ndarray) -> np.ndarray:
    """What a user means by a 0/255 (or JPEG-noisy near-0/255) mask: bright is the object."""
    return (values > 127).astype(np.uint8)


def as_labels(values: np.ndarray) -> np.ndarray:
    """Masks that already hold the class values (volumes, 0/1/2 PNGs)."""
    return values


def mask_files(masks: Path) -> dict[str, Path]:
    """The masks svseg wrote, by stem (its evaluation folder left out)."""
    return {name: path for name, path in files_by_stem(masks).items() if path.is_file()}


def check_masks_2d(folders: UserFolders, masks: Path, mask_ending: str, labels: set[int]) -> None:
    """One mask per new image, named after it, in `mask_ending`, of the image's size, holding labels only."""
    inputs, written = files_by_stem(folders.new_images), mask_files(masks)
    assert sorted(written) == sorted(inputs), f"{masks}: {sorted(written)}"
    for name, image_path in inputs.items():
        assert ending(written[name]) == mask_ending, written[name]
        mask, image = read(written[name]).array, read(image_path).array
        assert mask.shape == image.shape[:2], f"{written[name]}: {mask.shape} for a {image.shape} image"
        assert set(np.unique(mask).tolist()) <= labels, f"{written[name]}: values {np.unique(mask)}"


def check_masks_3d(folders: UserFolders, masks: Path, labels: set[int],
                   scans: dict[str, Path | None] | None = None) -> None:
    """One ``.nii.gz`` mask per case, on the grid of its scan (when given) and of the user's own mask."""
    scans = scans if scans is not None else dict(files_by_stem(folders.new_images))
    references, written = files_by_stem(folders.new_labels), mask_files(masks)
    assert sorted(written) == sorted(scans), f"{masks}: {sorted(written)}"
    for name, scan in scans.items():
        assert written[name].name == f"{name}.nii.gz", written[name]
        mask = read(written[name])
        if scan is not None:
            assert_same_geometry(mask, read(scan), str(written[name]))
        assert_same_geometry(mask, read(references[name]), str(written[name]))
        assert set(np.unique(mask.array).tolist()) <= labels, f"{written[name]}: values {np.unique(mask.array)}"


def check_metrics(folders: UserFolders, masks: Path, classes: list[int], to_classes: ToClasses,
                  ignore: int | None = None) -> dict:
    """metrics.json's numbers are fractions, and its image Dice and object count match numpy's."""
    result = metrics(masks / "evaluation" / "metrics.json")
    assert_fractions(result)
    expected = image_dice(masks, folders.new_labels, classes, to_classes, ignore)
    reported = result["image"]["all"]["dice"]
    if np.isnan(expected):
        assert reported is None, f"image Dice {reported}; nothing to score in {masks}"
    else:
        assert reported == pytest.approx(expected, abs=1e-6), f"image Dice {reported}, numpy {expected:.6f}"
    assert result["object"]["all"]["n_objects"] == object_count(folders.new_labels, classes, to_classes)
    return result


def check_good_prediction(folders: UserFolders, masks: Path, dataset: str, classes: list[int],
                          to_classes: ToClasses, ignore: int | None = None) -> float:
    """A known good prediction (the user's masks eroded by a pixel, written like svseg's masks) scores its Dice.

    The few training steps leave the model's own masks near-empty, so this is what shows that
    evaluate reads the user's own references correctly: the reported bug scored such a
    prediction 0.000 against 0/255 masks.
    """
    good, refs = masks.parent / f"{masks.name}_good", files_by_stem(folders.new_labels)
    for name, mask_path in mask_files(masks).items():
        write_like(mask_path, good / mask_path.name, eroded(to_classes(read(refs[name]).array), ignore))
    svseg("evaluate", "-p", good, "-g", folders.new_labels, "-d", dataset, "-j", "1")
    expected = image_dice(good, folders.new_labels, classes, to_classes, ignore)
    assert 0.4 < expected < 0.99, f"the stand-in prediction's Dice {expected:.3f} is not a good-but-imperfect one"
    check_metrics(folders, good, classes, to_classes, ignore)
    return expected


def raw_dataset(home: Path, name: str) -> Path:
    """The raw dataset folder import made for `name` under data root `home`."""
    (folder,) = (home / "raw").glob(f"Dataset*_{name}")
    return folder


def assert_same_raw_dataset(home: Path, name: str, other: str, pixels: bool) -> None:
    """Two imports gave the same kind of nnU-Net dataset (channels, labels, file ending, case count),
    and with `pixels` the same pixels in every case.

    Plan and training see only the raw dataset, so a form whose import matches another form's is
    predicted with that form's model in the tests rather than trained again.
    """
    import json

    first, second = raw_dataset(home, name), raw_dataset(home, other)
    keys = ("channel_names", "labels", "file_ending", "numTraining")
    jsons = [json.loads((folder / "dataset.json").read_text(encoding="utf-8")) for folder in (first, second)]
    assert {k: jsons[0][k] for k in keys} == {k: jsons[1][k] for k in keys}
    for sub in ("imagesTr", "labelsTr") if pixels else ():
        files = [files_by_stem(folder / sub) for folder in (first, second)]
        assert sorted(files[0]) == sorted(files[1]), sub
        for case, path in files[0].items():
            np.testing.assert_array_equal(read(path).array, read(files[1][case]).array, err_msg=f"{sub}/{case}")
