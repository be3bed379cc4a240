"""``compare_architectures``: several networks trained and scored exactly alike, side by side.

A comparison is only fair when everything but the network is held fixed, so every
architecture here is trained on the same plans, preprocessed data, fold and recipe (through
the training API's ``arch`` option, which adds a ``2d_<arch>`` configuration inheriting the
plan's, or uses the plan's own for its own network), finds each model again by that name as
``svseg predict --arch`` does, predicts the same held-out cases (the dataset's test split, else
the fold's validation cases; :mod:`svseg.datasets.held_out`) with the same settings (no TTA, the
final checkpoint) and is scored by the same stratified evaluation. Cost is reported next to
quality: parameters and multiply-accumulates of the trained network at the plan's patch size,
training wall time and inference throughput.

Training an architecture whose fold is already trained is refused unless ``overwrite`` (the
training API's finished-fold rule), so a long run is never silently replaced.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svseg.comparison.report import ArchitectureRow, comparison_markdown, write_comparison
from svseg.datasets.held_out import StagedCases, held_out_case_ids, stage_cases
from svseg.errors import SvsegError
from svseg.evaluation.headline import summarise_metrics
from svseg.paths import DatasetRef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComparisonResult:
    """The table (as written) and the rows behind it."""

    out_dir: Path
    markdown_path: Path
    json_path: Path
    markdown: str
    rows: list[ArchitectureRow]


def parse_archs(archs: str | list[str]) -> list[str]:
    """Registered network names from ``"a,b"`` or a list; unknown or repeated names are user errors."""
    from svseg.networks import is_network, list_networks

    names = [name.strip() for name in (archs.split(",") if isinstance(archs, str) else archs) if name.strip()]
    if not names:
        raise SvsegError("--archs: name at least one registered network, e.g. svanet_tiny,unet")
    unknown = [name for name in names if not is_network(name)]
    if unknown:
        raise SvsegError(f"--archs: unknown network(s) {', '.join(unknown)}; registered: {', '.join(list_networks())}")
    if len(set(names)) != len(names):
        raise SvsegError(f"--archs: a network is named twice in {','.join(names)}")
    return names


def compare_architectures(
    dataset: str,
    fold: int | str,
    archs: str | list[str],
    *,
    epochs: int | None = None,
    iters_per_epoch: int | None = None,
    device: str = "auto",
    out_dir: Path | None = None,
    overwrite: bool = False,
) -> ComparisonResult:
    """Train, predict and evaluate each of ``archs`` on ``dataset``'s plan and ``fold``; write the table.

    ``epochs`` and ``iters_per_epoch`` override the plan's recipe for every architecture alike.
    Output goes to ``out_dir`` (default ``results/<dataset>/comparison/fold_<k>/``):
    ``comparison.md``, ``comparison.json``, and per architecture ``predictions/<arch>/`` and
    ``evaluation/<arch>/``.
    """
    from svseg.paths import export_nnunet_environment, resolve_dataset
    from svseg.planning.plans import load_plans, plans_path
    from svseg.training.api import parse_fold
    from svseg.training.device import resolve_device

    names = parse_archs(archs)
    fold_value = parse_fold(fold)
    export_nnunet_environment()
    ref = resolve_dataset(dataset)
    plans = load_plans(plans_path(ref.preprocessed_dir))
    torch_device = resolve_device(device)
    out_dir = Path(out_dir) if out_dir is not None else ref.results_dir / "comparison" / f"fold_{fold_value}"

    trained = {name: _train(ref, fold_value, name, epochs, iters_per_epoch, device, overwrite) for name in names}
    cases, source = held_out_case_ids(ref.raw_dir, ref.preprocessed_dir, fold_value)
    staged = stage_cases(ref.raw_dir, cases, source, out_dir / "cases")
    rows = [_score(ref, staged, fold_value, name, trained[name], device, out_dir, plans.strata) for name in names]
    context = {
        "dataset": ref.folder_name, "fold": fold_value, "cases": source, "num_cases": staged.num_cases,
        "device": str(torch_device), "plans": str(plans.path), "preset": plans.preset,
        "epochs": epochs, "iters_per_epoch": iters_per_epoch, "machine": machine_description(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    markdown_path, json_path = write_comparison(out_dir, rows, context)
    log.info("comparison written to %s and %s", markdown_path, json_path)
    return ComparisonResult(out_dir, markdown_path, json_path, comparison_markdown(rows, context), rows)


def machine_description() -> str:
    """CPU/GPU, core count and torch version: the context every timing needs."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


@dataclass(frozen=True)
class _Trained:
    model_dir: Path
    configuration: str
    seconds: float
    epochs: int
    iters_per_epoch: int


def _train(ref: DatasetRef, fold: int | str, arch: str, epochs: int | None, iters_per_epoch: int | None,
           device: str, overwrite: bool) -> _Trained:
    """Train one architecture; the recipe actually used is read back from the model's plans."""
    from svseg.training.api import train

    log.info("compare: training %s on %s fold %s", arch, ref.folder_name, fold)
    started = time.perf_counter()
    result = train(ref.folder_name, fold, arch=arch, epochs=epochs, iters_per_epoch=iters_per_epoch,
                   device=device, overwrite=overwrite)
    seconds = time.perf_counter() - started
    recipe = json.loads((Path(result.model_dir) / "plans.json").read_text(encoding="utf-8"))["svseg"]["recipe"]
    return _Trained(Path(result.model_dir), result.configuration, seconds, int(recipe["epochs"]),
                    int(recipe["iters_per_epoch"]))


def _score(ref: DatasetRef, staged: StagedCases, fold: int | str, arch: str, trained: _Trained, device: str,
           out_dir: Path, strata: dict[str, float]) -> ArchitectureRow:
    """Predict the staged cases with one trained model, evaluate, and measure its cost."""
    from svseg.evaluation.api import dataset_labels, evaluate_folders
    from svseg.inference.api import predict

    predictions = out_dir / "predictions" / arch
    # found by name, as `svseg predict -d DATASET --arch ARCH` finds it: the same name reaches the same model
    predicted = predict(staged.images_dir, predictions, dataset=ref.folder_name, arch=arch, folds=[str(fold)],
                        device=device, tta=False, overwrite=True)
    if predicted.model_dir is None or predicted.model_dir.resolve() != trained.model_dir.resolve():
        raise RuntimeError(f"--arch {arch} trained {trained.model_dir} but predicts with {predicted.model_dir}")
    evaluation = evaluate_folders(predictions, staged.labels_dir, out_dir / "evaluation" / arch,
                                  labels=dataset_labels(ref.folder_name),
                                  thresholds=(strata["ultra_small"], strata["small"]))
    parameters, macs, patch = network_cost(trained.model_dir, trained.configuration, ref)
    return ArchitectureRow(
        arch=arch, parameters=parameters, macs=macs, patch_size=patch, train_seconds=trained.seconds,
        epochs=trained.epochs, iters_per_epoch=trained.iters_per_epoch,
        predict_seconds=predicted.seconds_predicting, num_slices=predicted.num_slices,
        strata=tuple(summarise_metrics(evaluation.metrics)), model_dir=trained.model_dir,
        metrics_path=evaluation.metrics_path,
    )


def network_cost(model_dir: Path, configuration: str, ref: DatasetRef) -> tuple[int, int | None, tuple[int, ...]]:
    """Parameters and MACs (one patch, batch 1) of the network exactly as the model's plans build it.

    The network is built on torch's ``meta`` device: shapes without data, so counting a large
    network costs well under a second and no memory.
    """
    import torch

    from svseg.networks import count_macs, count_parameters
    from svseg.training.network_from_plans import build_network_from_plans

    plans = json.loads((model_dir / "plans.json").read_text(encoding="utf-8"))
    dataset_json = json.loads((model_dir / "dataset.json").read_text(encoding="utf-8"))
    channels, classes = len(dataset_json["channel_names"]), len(dataset_json["labels"])
    patch = tuple(int(side) for side in _configuration(plans, configuration)["patch_size"])
    with torch.device("meta"):
        network = build_network_from_plans(plans, configuration, channels, classes, deep_supervision=False)
    return count_parameters(network), count_macs(network, (1, channels, *patch)), patch


def _configuration(plans: dict[str, Any], name: str) -> dict[str, Any]:
    """A configuration with nnU-Net's ``inherits_from`` resolved (for its patch size)."""
    from svseg.nnunet_touchpoints import plans_manager

    return plans_manager(plans).get_configuration(name).configuration
