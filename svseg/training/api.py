"""``train``: the Python entry point behind ``svseg train``.

It resolves the dataset and its plans, settles the run's recipe (plan, then preset, then
command-line overrides), decides what happens to an existing fold folder (refuse, resume,
overwrite), builds the job and runs it on one device, on N local GPUs (spawned DDP workers) or as
one process of a ``torchrun`` job, then evaluates the held-out fold. The model folder follows
nnU-Net's layout exactly, ``results/DatasetNNN_NAME/SvsegTrainer__svsegPlans__<configuration>/
fold_<k>/`` (named after the trainer, e.g. ``LSNetTrainer__`` for L-SNet), so nnU-Net's predictor
and svseg's read it unchanged.

The fold folder also gets ``svseg_run.json``: the exact plans, configuration and encoder
settings of the run, so ``--continue`` resumes what was started even when another fold has
since rewritten the shared ``plans.json`` one level up.

Every check runs before the first write: finished preprocessing, a writable results folder, the
fold's lock (one run per dataset, configuration and fold; training/fold_guard.py), the fold
number, the split and the network; a refused run leaves no fold folder behind.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svseg import __version__
from svseg.errors import SvsegError
from svseg.planning.plans import Recipe, SvsegPlans, load_plans, parse_plans, plans_path
from svseg.utils.fs import atomic_write_json, check_writable_dir

log = logging.getLogger(__name__)

RUN_RECORD = "svseg_run.json"


@dataclass(frozen=True)
class TrainResult:
    """Where the model went and how it scored on its held-out fold."""

    model_dir: Path
    fold_dir: Path
    configuration: str
    metrics: dict[str, Any] = field(default_factory=dict)
    main_process: bool = True

    def summary(self) -> list[str]:
        """Printable lines: where the model is and how its held-out fold scored (none from other torchrun ranks)."""
        if not self.main_process:
            return []
        lines = [f"model: {self.model_dir} ({self.fold_dir.name})"]
        dice = self.metrics.get("foreground_dice")
        if dice is not None:
            lines.append(f"validation Dice (nnU-Net, {self.metrics.get('n_cases', '?')} cases): {dice:.4f}")
        evaluation = self.metrics.get("evaluation") or {}
        strata = ", ".join(
            f"{name} {value:.4f}" for name, value in evaluation.get("object_dice", {}).items() if value is not None
        )
        if strata:
            lines.append(f"object Dice by stratum: {strata}")
        if evaluation.get("metrics_path"):
            lines.append(f"evaluation: {evaluation['metrics_path']}")
        return lines


def parse_fold(fold: str | int) -> int | str:
    """``0``..``N`` or ``all``, as nnU-Net accepts them."""
    text = str(fold).strip().lower()
    if text == "all":
        return "all"
    if not text.isdigit():
        raise SvsegError(f"fold {fold!r}: use a fold number (0-4 for nnU-Net's 5-fold split) or 'all'")
    return int(text)


def preset_recipe(name: str) -> Recipe:
    """The recipe of preset `name` (JSON presets shipped in the repository's plans/ folder)."""
    try:
        from svseg.planning.presets import load_preset
    except ImportError:
        raise SvsegError(f"--preset {name}: presets are not available in this installation") from None
    preset = load_preset(name)
    if getattr(preset.planning, "epoch_is_one_pass", False):
        log.warning(
            "preset %s sizes epochs from the dataset when planning; --preset at training time uses the preset's "
            "fixed counts (%d/%d iterations); plan with --preset %s for one pass per epoch",
            name, preset.recipe.iters_per_epoch, preset.recipe.val_iters_per_epoch, name,
        )
    return preset.recipe


def run_recipe(base: Recipe, preset: str | None, overrides: dict[str, Any]) -> Recipe:
    """The plan's recipe, replaced by a preset's when one is named, with command-line overrides on top."""
    recipe = preset_recipe(preset) if preset is not None else base
    return recipe.with_overrides(**overrides)


def fold_checkpoint(fold_dir: Path, resume: bool, overwrite: bool) -> Path | None:
    """Apply the finished-fold rule; returns the checkpoint to resume from (or None).

    Nothing is deleted here: ``--overwrite`` clears the folder only after every other input
    check has passed (:func:`clear_fold_dir`).
    """
    from svseg.training.checkpoints import CHECKPOINT_FINAL, find_resume_checkpoint

    if resume:
        checkpoint = find_resume_checkpoint(fold_dir)
        if checkpoint is None:
            log.warning("%s: no checkpoint to continue from; starting a new training", fold_dir)
        return checkpoint
    if not overwrite and (fold_dir / CHECKPOINT_FINAL).is_file():
        raise SvsegError(
            f"{fold_dir}: this fold is already trained ({CHECKPOINT_FINAL} exists); "
            "use --continue to re-run its validation or --overwrite to train it again"
        )
    return None


def clear_fold_dir(fold_dir: Path) -> None:
    """``--overwrite``: remove this fold's folder (and nothing else of the model folder)."""
    if fold_dir.exists():
        log.info("--overwrite: removing %s", fold_dir)
        shutil.rmtree(fold_dir)


def _recorded_plans(fold_dir: Path, fallback: SvsegPlans) -> tuple[SvsegPlans, dict[str, Any]]:
    """The plans and record of the run being resumed (the dataset's plans if there is no record)."""
    path = fold_dir / RUN_RECORD
    if not path.is_file():
        return fallback, {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise SvsegError(f"{path}: not valid JSON ({str(exc)[:160]}); --overwrite trains the fold again") from None
    plans = record.get("plans") if isinstance(record, dict) else None
    return parse_plans(plans, path), record  # parse_plans refuses plans that are not plain data first


def _read_dataset_json(preprocessed_dir: Path) -> dict[str, Any]:
    """The preprocessed dataset.json: readable, and naming no reader nnU-Net would look up by name."""
    from svseg.io.dataset_json_safety import read_dataset_json

    path = preprocessed_dir / "dataset.json"
    if not path.is_file():
        raise SvsegError(f"{path}: missing; run svseg plan-and-preprocess first")
    return read_dataset_json(path)


def train(
    dataset: str,
    fold: str | int,
    arch: str | None = None,
    preset: str | None = None,
    epochs: int | None = None,
    iters_per_epoch: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    num_gpus: int = 1,
    resume: bool = False,
    overwrite: bool = False,
    compile: bool | None = None,
    pretrained: Path | None = None,
    num_workers: int | None = None,
    loss: str | None = None,
) -> TrainResult:
    """Train one fold of a planned dataset and evaluate it on its held-out cases.

    `resume` continues from the fold's newest checkpoint (a finished fold is only re-validated);
    `overwrite` deletes the fold folder first; without either, a finished fold is refused.
    `pretrained` loads encoder weights (which enables the recipe's encoder freezing).
    `num_workers` sets nnU-Net's augmentation processes (default: sized for this machine).
    `loss` overrides the recipe's loss (svseg.training.losses.LOSSES), like `lr` its learning rate.
    """
    from svseg.training.device import scoped_settings

    fold_value = parse_fold(fold)
    if resume and overwrite:
        raise SvsegError("--continue and --overwrite exclude each other")
    if resume and pretrained is not None:
        raise SvsegError("--pretrained only applies to a new training, not to --continue")
    if num_gpus < 1:
        raise SvsegError(f"--num-gpus {num_gpus}: must be at least 1")
    from svseg.training.losses import LOSSES

    if loss is not None and loss not in LOSSES:
        raise SvsegError(f"--loss {loss!r}: must be one of {', '.join(LOSSES)}")
    if pretrained is not None and not Path(pretrained).is_file():
        raise SvsegError(f"{pretrained}: pretrained weights file not found (svseg never downloads weights)")
    if overwrite and not _is_main_process():
        raise SvsegError("--overwrite under torchrun would race between ranks; delete the fold folder first")
    overrides = {"epochs": epochs, "iters_per_epoch": iters_per_epoch, "lr": lr, "batch_size": batch_size,
                 "loss": loss}
    with scoped_settings():
        return _train_fold(dataset, fold_value, arch, preset, overrides, device, num_gpus, resume, overwrite, compile,
                           pretrained, num_workers)


def _train_fold(
    dataset: str,
    fold: int | str,
    arch: str | None,
    preset: str | None,
    overrides: dict[str, Any],
    device: str,
    num_gpus: int,
    resume: bool,
    overwrite: bool,
    compile_network: bool | None,
    pretrained: Path | None,
    num_workers: int | None,
) -> TrainResult:
    """The body of :func:`train`, inside the scoped process settings."""
    from svseg.paths import export_nnunet_environment, resolve_dataset
    from svseg.planning.api import check_preprocessed
    from svseg.training.device import configure_compile, configure_threads, configure_workers, resolve_device
    from svseg.training.fold_guard import check_network_builds, check_weight_files, fold_lock, no_trace_on_refusal
    from svseg.training.run_plans import model_folder_name, plans_for_run, trainer_name_for, training_configuration
    from svseg.training.splits import check_fold_split

    export_nnunet_environment()
    torch_device = resolve_device(device)
    configure_workers(torch_device, num_gpus, num_workers)
    configure_threads(torch_device)
    configure_compile(compile_network)

    ref = resolve_dataset(dataset)
    plans = load_plans(plans_path(ref.preprocessed_dir))
    dataset_json = _read_dataset_json(ref.preprocessed_dir)
    _check_arch(arch)
    check_preprocessed(ref, plans)
    configuration = training_configuration(plans, arch)
    trainer = trainer_name_for(arch or plans.network.name)
    model_dir = ref.results_dir / model_folder_name(configuration, plans.plans_name, trainer)
    fold_dir = model_dir / f"fold_{fold}"
    check_writable_dir(fold_dir, "fold results")
    with fold_lock(model_dir, fold, f"svseg train -d {ref.folder_name} -f {fold} ({configuration})"):
        checkpoint = fold_checkpoint(fold_dir, resume, overwrite)
        base, record = _recorded_plans(fold_dir, plans) if checkpoint is not None else (plans, {})
        recipe = run_recipe(base.recipe, preset, overrides)
        run_plans, configuration = plans_for_run(base, recipe, dataset_json, arch, preset)
        check_fold_split(ref.folder_name, ref.preprocessed_dir, run_plans, configuration, fold)
        check_network_builds(run_plans, configuration, dataset_json, trainer, plans.path)
        job = _make_job(run_plans, configuration, fold, dataset_json, checkpoint, pretrained, record)
        check_weight_files(checkpoint, pretrained, resumes=not job.validate_only)
        _check_launch(torch_device, num_gpus, recipe.batch_size)
        if torch_device.type == "cpu" and not job.validate_only and _is_main_process():
            from svseg.training.cpu_estimate import warn_if_gpu_sized  # prints the estimate and the CPU preset

            network = arch or plans.network.name
            warn_if_gpu_sized(run_plans, configuration, dataset_json, recipe, ref.name, fold, network)
        if overwrite:
            clear_fold_dir(fold_dir)
        with no_trace_on_refusal(fold_dir):  # nnU-Net's trainer writes its log before its own checks
            if not job.validate_only:
                _write_record(fold_dir, job)
            _launch(job, torch_device, num_gpus)
        run = parse_plans(run_plans, fold_dir / RUN_RECORD)
        return _finish(model_dir, fold_dir, configuration, ref.preprocessed_dir, dataset_json, run)


def _check_arch(arch: str | None) -> None:
    """An unknown ``--arch`` is a user error, found before any folder is touched."""
    if arch is None:
        return
    from svseg.networks import is_network, list_networks

    if not is_network(arch):
        raise SvsegError(f"unknown architecture {arch!r} (--arch); registered: {', '.join(list_networks())}")


def _make_job(
    run_plans: dict[str, Any],
    configuration: str,
    fold: int | str,
    dataset_json: dict[str, Any],
    checkpoint: Path | None,
    pretrained: Path | None,
    record: dict[str, Any],
) -> Any:
    from svseg.training.checkpoints import CHECKPOINT_FINAL
    from svseg.training.job import TrainingJob

    return TrainingJob(
        plans=run_plans,
        configuration=configuration,
        fold=fold,
        dataset_json=dataset_json,
        resume_checkpoint=str(checkpoint) if checkpoint is not None else None,
        pretrained=str(pretrained) if pretrained is not None else None,
        pretrained_encoder=bool(record.get("pretrained_encoder", False)),
        validate_only=checkpoint is not None and checkpoint.name == CHECKPOINT_FINAL,
    )


def _is_main_process() -> bool:
    from svseg.training.ddp import torchrun_rank

    placement = torchrun_rank()
    return placement is None or placement.rank == 0


def _write_record(fold_dir: Path, job: Any) -> None:
    """The run's plans and encoder settings, for an exact ``--continue``."""
    if not _is_main_process():
        return
    record = {
        "svseg_version": __version__,
        "configuration": job.configuration,
        "fold": job.fold,
        "pretrained": job.pretrained,
        "pretrained_encoder": job.pretrained is not None or job.pretrained_encoder,
        "plans": job.plans,
    }
    atomic_write_json(fold_dir / RUN_RECORD, record)


def _check_launch(device: Any, num_gpus: int, batch_size: int) -> None:
    """Refuse an impossible distributed set-up (torchrun or ``--num-gpus``) before anything is written."""
    from svseg.training.ddp import check_ddp_request, torchrun_rank

    placement = torchrun_rank()
    if placement is not None and placement.world_size > 1:
        check_ddp_request(device, placement.world_size, batch_size, placement.local_rank)
    elif num_gpus > 1:
        if device.type != "cuda":
            raise SvsegError(f"--num-gpus {num_gpus} needs CUDA GPUs (the device is {device.type}); for several CPU "
                             f"processes launch with torchrun --nproc-per-node {num_gpus} -m svseg.cli train ...")
        check_ddp_request(device, num_gpus, batch_size)


def _launch(job: Any, device: Any, num_gpus: int) -> None:
    """Run the job here, in N spawned DDP workers, or as this torchrun process's rank."""
    from svseg.training.ddp import run_torchrun_rank, spawn_ddp, torchrun_rank
    from svseg.training.device import describe_device
    from svseg.training.job import run_job

    placement = torchrun_rank()
    if placement is not None and placement.world_size > 1:
        run_torchrun_rank(job, placement, device)
    elif num_gpus > 1:
        spawn_ddp(job, num_gpus, device)
    else:
        log.info("training %s fold %s on %s", job.configuration, job.fold, describe_device(device))
        run_job(job, device)


def _finish(
    model_dir: Path,
    fold_dir: Path,
    configuration: str,
    preprocessed_dir: Path,
    dataset_json: dict[str, Any],
    plans: SvsegPlans,
) -> TrainResult:
    """nnU-Net's validation summary plus svseg's stratified evaluation (main process only)."""
    from svseg.training.validation import evaluate_validation, read_validation_summary

    if not _is_main_process():
        return TrainResult(model_dir, fold_dir, configuration, main_process=False)
    metrics = read_validation_summary(fold_dir)
    metrics["evaluation"] = evaluate_validation(
        fold_dir, preprocessed_dir / "gt_segmentations", dataset_json, plans.strata
    )
    log.info("%s done: validation Dice %s; model in %s", fold_dir.name, metrics.get("foreground_dice"), model_dir)
    return TrainResult(model_dir, fold_dir, configuration, metrics)
