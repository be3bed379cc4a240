"""``SvsegTrainer``: nnU-Net's trainer, driven by the plans' svseg recipe.

nnU-Net keeps hyperparameters as attributes set in ``__init__`` and grows one subclass per value
(``nnUNetTrainer_5epochs``...). svseg has one trainer: every number it uses comes from the
``recipe`` of the plans' svseg section (:class:`svseg.planning.plans.Recipe`), which svseg's
``train`` fills from the plan, a preset and command-line overrides before the trainer is built.
This module holds no hyperparameter value of its own.

The hooks svseg changes are grouped by job into small mixins, each in the module of that job,
so that no class overrides more than three of nnU-Net's hooks (house rule R2, docs/design/style.md):

- :class:`~svseg.training.progress_log.EpochProgressHooks`: bar, epoch line, console chatter;
- :class:`~svseg.training.checkpoints.AtomicCheckpointHooks`: atomic, weights-only checkpoints;
- :class:`~svseg.training.network_from_plans.RegistryNetworkHooks`: network from the registry,
  deep-supervision switch;
- :class:`~svseg.training.amplified_sampling.AmplifiedSamplingHooks`: STS-Net amplification
  (weighted training draws, one flip/zoom per draw) when the plans ask for it;
- :mod:`~svseg.training.distributed_hooks`: DDP on several machines and on the CPU (device per
  local rank, main-process-only writes, the optional ``SVSEG_DDP_TRACE``);
- this class: recipe attributes, optimizer + schedule, loss.

The mixins override disjoint hooks (``train_step`` excepted: the progress bar and the DDP trace
both wrap it and call through), so their order only matters in that they sit before
``nnUNetTrainer``. Which class answers each nnU-Net hook, in the order nnU-Net's loop calls them
(``tests/training/test_trainer_composition.py`` keeps this table true):

==================================  ================================================================
nnU-Net hook                        svseg's code (then nnU-Net's, where it calls through)
==================================  ================================================================
``initialize``                      DistributedSetupHooks (device per local rank, gloo/NCCL DDP wrap)
``build_network_architecture``      RegistryNetworkHooks (the registry network named by the plans)
``set_deep_supervision_enabled``    RegistryNetworkHooks (networks without deep supervision)
``configure_optimizers``            SvsegTrainer (the recipe's optimizer and schedule)
``_build_loss``                     SvsegTrainer (the recipe's loss around nnU-Net's)
``get_tr_and_val_datasets``         AmplifiedSamplingHooks (STS-Net amplification when planned)
``on_train_start``                  MainProcessWriteHooks (only the main process writes)
``train_step``                      EpochProgressHooks -> DistributedTraceHooks -> nnUNetTrainer (bar,
                                    then trace, then the step; for L-SNet LSNetStepHooks' two updates)
``print_to_log_file``               EpochProgressHooks (nnU-Net's console echo to svseg's log)
``on_epoch_end``                    EpochProgressHooks (one line per epoch, progress plot)
``save_checkpoint``                 AtomicCheckpointHooks (atomic, weights-only readable)
``load_checkpoint``                 AtomicCheckpointHooks (weights-only resume)
``perform_actual_validation``       MainProcessWriteHooks (main process alone under DDP)
``on_train_end``                    DistributedTraceHooks (each rank's trace when asked)
``_do_i_compile``                   LSNetStepHooks, L-SNet only (compile off)
==================================  ================================================================

The nnU-Net attributes the mixins read (``network``, ``optimizer``, ``device``, ``is_ddp``,
``local_rank``, ``current_epoch``, ``logger``, ``output_folder``...) are nnU-Net's own, set by its
``__init__``; svseg adds ``recipe`` and ``pretrained_encoder`` here.

The constructor keeps nnU-Net's five arguments because checkpoints store them
(``init_args``) and nnU-Net's tools re-create trainers from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from torch import nn

from svseg.errors import SvsegError
from svseg.io.dataset_json_safety import check_dataset_json_is_data
from svseg.nnunet_touchpoints import check_overrides
from svseg.planning.plans import Recipe, parse_plans
from svseg.planning.plans_safety import check_plans_are_data
from svseg.training.amplified_sampling import AmplifiedSamplingHooks
from svseg.training.checkpoints import AtomicCheckpointHooks
from svseg.training.distributed_hooks import DistributedSetupHooks, DistributedTraceHooks, MainProcessWriteHooks
from svseg.training.encoder import frozen_until_epoch
from svseg.training.losses import apply_recipe_loss
from svseg.training.network_from_plans import RegistryNetworkHooks, architecture_supports_deep_supervision
from svseg.training.optimizers import build_optimizer_and_schedule
from svseg.training.progress_log import EpochProgressHooks
from svseg.training.schedules import RecipeLRScheduler


@check_overrides
class SvsegTrainer(EpochProgressHooks, AtomicCheckpointHooks, RegistryNetworkHooks, AmplifiedSamplingHooks,
                   DistributedSetupHooks, MainProcessWriteHooks, DistributedTraceHooks, nnUNetTrainer):
    """nnU-Net's training loop with svseg's recipe, registry networks and safe checkpoints.

    Set :attr:`pretrained_encoder` to True before ``initialize()`` when pretrained encoder
    weights will be loaded; only then does ``recipe.freeze_encoder_fraction`` freeze the encoder.
    The plans and dataset.json are checked as data before nnU-Net's constructor sees them, so
    nnU-Net's own ``nnUNetv2_train ... -tr SvsegTrainer`` cannot reach its by-name lookups with a
    hostile plans file either.
    """

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int | str,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),
    ) -> None:
        named = plans if isinstance(plans, dict) else {}
        folder = Path(str(named.get("dataset_name", "")))
        check_plans_are_data(plans, folder / f"{named.get('plans_name', 'plans')}.json")
        check_dataset_json_is_data(dataset_json, folder / "dataset.json")
        plans.setdefault("continue_training", False)
        super().__init__(plans, configuration, fold, dataset_json, device)
        plans_file = Path(f"{self.plans_manager.plans_name}.json")
        self.recipe: Recipe = parse_plans(self.plans_manager.plans, plans_file).recipe
        self.pretrained_encoder = False
        apply_recipe(self, self.recipe)

    def configure_optimizers(self) -> tuple[torch.optim.Optimizer, RecipeLRScheduler]:
        """The recipe's optimizer and per-epoch schedule (encoder held still while frozen)."""
        frozen_until = frozen_until_epoch(self.recipe, self.num_epochs, self.pretrained_encoder)
        if frozen_until:
            self.print_to_log_file(f"encoder frozen for epochs 0-{frozen_until - 1} (pretrained weights)")
        return build_optimizer_and_schedule(self.network, self.recipe, self.num_epochs, frozen_until)

    def _build_loss(self) -> nn.Module:
        """nnU-Net's loss (with its deep-supervision wrapper when on), made the recipe's loss."""
        return apply_recipe_loss(super()._build_loss(), self.recipe.loss)


def apply_recipe(trainer: nnUNetTrainer, recipe: Recipe) -> None:
    """Copy the recipe into the attributes and configuration nnU-Net's loop reads.

    The batch size is written into the resolved configuration (what nnU-Net's data loaders and
    DDP split read) and into the plans dict (what is copied to the model folder), so the model
    folder tells the truth about the run.
    """
    if recipe.val_iters_per_epoch < 1:
        raise SvsegError(
            "recipe.val_iters_per_epoch must be >= 1 for training: nnU-Net's pseudo-Dice, best checkpoint "
            "and progress.png need at least one validation batch per epoch"
        )
    trainer.num_epochs = recipe.epochs
    trainer.num_iterations_per_epoch = recipe.iters_per_epoch
    trainer.num_val_iterations_per_epoch = recipe.val_iters_per_epoch
    trainer.initial_lr = recipe.lr
    trainer.weight_decay = recipe.weight_decay
    trainer.oversample_foreground_percent = recipe.oversample_foreground
    trainer.save_every = recipe.checkpoint_every
    configuration: dict[str, Any] = trainer.configuration_manager.configuration
    trainer.enable_deep_supervision = architecture_supports_deep_supervision(configuration["architecture"])
    configuration["batch_size"] = recipe.batch_size
    trainer.plans_manager.plans["configurations"][trainer.configuration_name]["batch_size"] = recipe.batch_size
