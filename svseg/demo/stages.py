"""The demo's calls into each stage's public API, with the demo's fixed choices.

Kept apart from :mod:`svseg.demo.api` so the orchestration reads as a list of stages and the
choices are in one place: the quick CPU preset, fold 0, a seeded 20 % test split, no
test-time augmentation (it doubles CPU prediction time for little gain on a demo), and a
training run sized by :mod:`svseg.demo.budget`.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from svseg.demo.budget import TrainingBudget, plan_training, time_training_step
from svseg.demo.data import DemoData
from svseg.paths import DatasetRef

log = logging.getLogger(__name__)

PRESET = "cpu_quick"
FOLD = 0
TEST_FRACTION = 0.2
CHANNEL_NAMES = {"2d": None, "3d": ["CT"]}
"""nnU-Net normalisation by channel name: CT intensities get its CT scheme, images the default."""
_TRAINING_FIXED = (10.0, 1.2)
_AFTER_TRAINING_FIXED = (5.0, 0.15)
"""Fixed costs (seconds, plus seconds per second that planning took) of the trainer's start-up and
pools, and of prediction and evaluation: like planning, they are mostly nnU-Net's process start-up."""


def import_demo(data: DemoData) -> DatasetRef:
    """Import the prepared folder with its label names and a held-out test split."""
    from svseg.datasets import import_dataset

    labels = [name for name in data.labels if name != "background"]
    result = import_dataset(data.root, data.dataset_name, label_names=labels,
                            channel_names=CHANNEL_NAMES[data.kind], test_fraction=TEST_FRACTION)
    for line in result.summary():
        log.info("import: %s", line)
    return result.ref


def plan_demo(dataset: DatasetRef, num_processes: int | None) -> Any:
    """Fingerprint, plan with the quick CPU preset (``svanet_tiny``, small patches), preprocess."""
    from svseg.planning.api import plan_and_preprocess

    result = plan_and_preprocess(dataset.folder_name, preset=PRESET, num_processes=num_processes or 2)
    for line in result.summary_lines():
        log.info("plan: %s", line)
    return result


def calibrate_budget(plan_result: Any, device: str, seconds_left: float, num_test_cases: int,
                     plan_seconds: float) -> TrainingBudget:
    """Time real training steps of the planned network and size the run to ``seconds_left``.

    Two kinds of cost surround the training steps. Per-slice work: the trainer's final
    validation of the fold's held-out cases and the demo's prediction of the test cases cost one
    forward pass per sliding-window tile (about a third of a training step per image of the
    batch). Fixed work: the trainer's start-up and the worker processes that nnU-Net spawns for
    augmentation, export and evaluation. Fixed work is dominated by process start-up, like
    planning, so it is charged in proportion to how long planning took on this machine: that
    keeps the estimate honest on a busy machine, where both are several times slower.
    """
    from svseg.networks import network_supports_deep_supervision
    from svseg.training.device import resolve_device
    from svseg.training.network_from_plans import build_network_from_plans

    plans = plan_result.plans
    training_fixed = _TRAINING_FIXED[0] + _TRAINING_FIXED[1] * plan_seconds
    after_fixed = _AFTER_TRAINING_FIXED[0] + _AFTER_TRAINING_FIXED[1] * plan_seconds
    if seconds_left <= training_fixed + after_fixed:
        # The fixed costs alone use up the budget: train the minimum run, and skip the timing
        # steps, whose own start-up (seconds on a busy machine) would only make the run longer.
        log.info("demo: %.0f s of the budget left after planning; training the minimum run", max(0.0, seconds_left))
        return plan_training(0.0, 1.0, reserve_seconds=0.0, val_iters_per_epoch=plans.recipe.val_iters_per_epoch)
    configuration = plans.nnunet_configuration()
    patch = tuple(int(size) for size in configuration["patch_size"])
    dataset_json = json.loads((plans.path.parent / "dataset.json").read_text(encoding="utf-8"))
    channels, classes = len(dataset_json["channel_names"]), len(dataset_json["labels"])
    batch = plans.recipe.batch_size
    torch_device = resolve_device(device)
    network = build_network_from_plans(plans.raw, plans.configuration, channels, classes,
                                       network_supports_deep_supervision(plans.network.name))
    step = time_training_step(network, (batch, channels, *patch), classes, torch_device, repeats=1)
    del network

    summary = plan_result.area_stats["summary"]
    slices_per_case = summary["slices"] / max(1, summary["cases"])
    tiles = _tiles_per_slice(configuration["median_image_size_in_voxels"][-2:], patch)
    seconds_per_slice = tiles * step / (3.0 * batch)
    validation_slices = slices_per_case * math.ceil(summary["cases"] / 5)
    reserve = after_fixed + 2.0 * num_test_cases * slices_per_case * seconds_per_slice
    fixed = training_fixed + 4.0 * validation_slices * seconds_per_slice  # the validation mirrors: 4 passes
    return plan_training(seconds_left, step, reserve_seconds=reserve, fixed_training_seconds=fixed,
                         val_iters_per_epoch=plans.recipe.val_iters_per_epoch)


def train_demo(dataset: DatasetRef, budget: TrainingBudget, device: str) -> Any:
    """Train fold 0 for the budgeted epochs x iterations (a rerun starts the fold afresh)."""
    from svseg.training.api import train

    return train(dataset.folder_name, FOLD, epochs=budget.epochs, iters_per_epoch=budget.iters_per_epoch,
                 device=device, overwrite=True)


def predict_demo(dataset: DatasetRef, images_dir: Path, output_dir: Path, device: str) -> Any:
    """Predict the staged test images with fold 0's final checkpoint, without TTA.

    The model is named by the plan's network, the one :func:`train_demo` trained: other models of
    the dataset (``svseg compare`` on it) must not make the choice ambiguous.
    """
    from svseg.inference.api import predict
    from svseg.planning.plans import load_plans, plans_path

    arch = load_plans(plans_path(dataset.preprocessed_dir)).network.name
    return predict(images_dir, output_dir, dataset=dataset.folder_name, folds=[str(FOLD)], arch=arch, device=device,
                   tta=False, overwrite=True)


def evaluate_demo(dataset: DatasetRef, predictions: Path, references: Path, out_dir: Path,
                  strata: dict[str, float]) -> Any:
    """Stratified evaluation with the dataset's labels and the plan's thresholds.

    The overlays are drawn on the test images: staged cases keep their images in ``images/`` beside
    the references' ``labels/`` (:func:`svseg.datasets.held_out.stage_cases`).
    """
    from svseg.evaluation.api import dataset_labels, evaluate_folders

    images = references.parent / "images"
    return evaluate_folders(predictions, references, out_dir, labels=dataset_labels(dataset.folder_name),
                            thresholds=(strata["ultra_small"], strata["small"]), num_workers=1,
                            images_dir=images if images.is_dir() else None)


def _tiles_per_slice(slice_shape: list[float], patch: tuple[int, ...]) -> int:
    """Sliding-window tiles per slice at nnU-Net's default step of half a patch."""
    tiles = 1
    for size, side in zip(slice_shape, patch[-2:], strict=True):
        tiles *= 1 if size <= side else math.ceil((size - side) / (side * 0.5)) + 1
    return tiles
