"""One training job, as run by one process: the single-device run or one DDP rank.

The job is a plain, picklable description (plans dict, configuration, fold, what to load) so
the same function runs in-process, in each ``torch.multiprocessing.spawn`` worker and in each
``torchrun`` process, mirroring nnU-Net's ``run_training`` / ``run_ddp`` (construct the trainer,
load a checkpoint or pretrained weights, train, then validate on the held-out fold).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingJob:
    """Everything a process needs to train (or re-validate) one fold."""

    plans: dict[str, Any]
    configuration: str
    fold: int | str
    dataset_json: dict[str, Any]
    resume_checkpoint: str | None = None
    pretrained: str | None = None
    pretrained_encoder: bool = False
    validate_only: bool = False


def build_trainer(job: TrainingJob, device: torch.device) -> Any:
    """The trainer for `job` (SvsegTrainer, or the one its network names), initialised and loaded."""
    from svseg.training.encoder import load_pretrained_encoder
    from svseg.training.run_plans import trainer_class, trainer_name_for

    plans = copy.deepcopy(job.plans)
    plans["continue_training"] = job.resume_checkpoint is not None
    network = _network_class_path(plans, job.configuration)
    trainer = trainer_class(trainer_name_for(network))(
        plans, job.configuration, job.fold, copy.deepcopy(job.dataset_json), device
    )
    # The freezing schedule is fixed when the optimizer is built, so the flag must be set first;
    # a resumed run restores it from the run record (its checkpoint already holds the weights).
    trainer.pretrained_encoder = job.pretrained is not None or job.pretrained_encoder
    trainer.initialize()
    if job.resume_checkpoint is not None:
        trainer.load_checkpoint(job.resume_checkpoint)
    elif job.pretrained is not None:
        load_pretrained_encoder(trainer.network, Path(job.pretrained))
    return trainer


def _network_class_path(plans: dict[str, Any], configuration: str) -> str:
    """The network class a configuration names (nnU-Net's ``inherits_from`` resolved)."""
    from svseg.nnunet_touchpoints import plans_manager

    architecture = plans_manager(plans).get_configuration(configuration).configuration.get("architecture", {})
    return str(architecture.get("network_class_name", ""))


def run_job(job: TrainingJob, device: torch.device) -> None:
    """Train (unless only re-validating) and run nnU-Net's validation on the held-out fold."""
    trainer = build_trainer(job, device)
    try:
        if not job.validate_only:
            trainer.run_training()
    finally:
        trainer.stop_progress()
    trainer.perform_actual_validation(False)
