"""nnU-Net's DDP path made right for several machines and for the CPU (mixins for SvsegTrainer).

nnU-Net 2.8.1's trainer assumes one machine full of GPUs: it stores the *global* rank in
``self.local_rank`` and uses it both as "am I the main process" and as the CUDA device index
(``cuda:<global rank>``, ``DDP(device_ids=[global rank])``), always converts BatchNorm to
SyncBatchNorm, and lets every rank write into the model folder (copies of the plans, its share
of the final validation). svseg keeps ``local_rank`` meaning the global rank, so every
``local_rank == 0`` check in nnU-Net and svseg (checkpoints, logs, plots) means "the job's main
process", and overrides the rest:

- :class:`DistributedSetupHooks`: each rank runs on the device its launcher bound (GPU
  ``LOCAL_RANK`` of its machine, or the CPU); the network is wrapped in DDP with that GPU, or
  with no device ids on the CPU, where gloo has no SyncBatchNorm and BatchNorm layers normalise
  each rank's share of the batch; no GradScaler off CUDA.
- :class:`MainProcessWriteHooks`: the main process writes the fold's split file before the
  others read it, only it copies the plans into the model folder, and it runs the final
  validation alone (the other ranks wait in the launcher), so nothing but the main process
  writes under the results folder.
- :class:`DistributedTraceHooks`: with ``SVSEG_DDP_TRACE=<folder>`` each rank saves its initial
  weights, every training batch it drew and its final weights to ``<folder>/rank<R>.pt``, a
  debugging aid to check a distributed run against a single-process replay of the same global
  batches (it keeps every batch in memory: for short checks only).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from svseg.training.network_from_plans import unwrap_network
from svseg.utils.fs import atomic_torch_save

log = logging.getLogger(__name__)

TRACE_ENV = "SVSEG_DDP_TRACE"


def launcher_device(requested: torch.device) -> torch.device:
    """The device of this rank: the GPU its launcher bound (``LOCAL_RANK``), or `requested` off CUDA."""
    if requested.type != "cuda":
        return requested
    if requested.index is not None:
        return requested
    local_rank = os.environ.get("LOCAL_RANK")
    return torch.device("cuda", int(local_rank) if local_rank is not None else torch.cuda.current_device())


def wrap_for_ddp(network: nn.Module, device: torch.device) -> nn.Module:
    """DDP around `network`: SyncBatchNorm and one device id on a GPU, plain on the CPU (gloo)."""
    if device.type == "cuda":
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
        return nn.parallel.DistributedDataParallel(network, device_ids=[device.index])
    if any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in network.modules()):
        log.info("gloo has no SyncBatchNorm: BatchNorm layers normalise each rank's share of the batch")
    return nn.parallel.DistributedDataParallel(network)


class DistributedSetupHooks:
    """Device, GradScaler and DDP wrap of a distributed rank (mixin for SvsegTrainer)."""

    def __init__(self, plans: dict, configuration: str, fold: int | str, dataset_json: dict,
                 device: torch.device = torch.device("cuda")) -> None:
        with warnings.catch_warnings():
            # nnU-Net picks cuda:<rank> under DDP and builds a CUDA GradScaler even on a CPU
            # machine; torch then warns and disables it. Both are replaced just below.
            warnings.filterwarnings("ignore", message=".*GradScaler is enabled, but CUDA is not available.*")
            super().__init__(plans, configuration, fold, dataset_json, device)  # type: ignore[call-arg]
        if self.is_ddp:  # type: ignore[attr-defined]
            self.device = launcher_device(device)
            if self.device.type != "cuda":
                self.grad_scaler = None

    def initialize(self) -> None:
        """nnU-Net's initialize, with svseg's DDP wrap in place of its CUDA-only one.

        nnU-Net wraps the network as soon as ``is_ddp`` is set, so the flag is hidden from it;
        the two steps of initialize that need it are then redone: this rank's share of the batch
        (and of the oversampling) and the loss, whose batch Dice gathers over the ranks.
        """
        if not self.is_ddp:  # type: ignore[attr-defined]
            super().initialize()  # type: ignore[misc]
            return
        self.is_ddp = False
        try:
            super().initialize()  # type: ignore[misc]
        finally:
            self.is_ddp = True
        self._set_batch_size_and_oversample()  # type: ignore[attr-defined]
        self.network = wrap_for_ddp(self.network, self.device)  # type: ignore[has-type]
        self.loss = self._build_loss()  # type: ignore[attr-defined]


class MainProcessWriteHooks:
    """Only the job's main process writes into the model folder (mixin for SvsegTrainer)."""

    def on_train_start(self) -> None:
        """nnU-Net's start of training; the other ranks' copies of plans and dataset.json go to scratch.

        nnU-Net has every rank write the same ``plans.json``, ``dataset.json`` and fingerprint
        into the model folder and create a missing ``splits_final.json``: concurrent writers of
        one file on a shared filesystem can leave it torn. The main process writes them; the
        others write their copies into a temporary folder that is then deleted.
        """
        if not self.is_ddp:  # type: ignore[attr-defined]
            super().on_train_start()  # type: ignore[misc]
            return
        if self.local_rank == 0:  # type: ignore[attr-defined]
            self.do_split()  # type: ignore[attr-defined]
        dist.barrier()
        if self.local_rank == 0:  # type: ignore[attr-defined]
            super().on_train_start()  # type: ignore[misc]
            return
        model_folder = self.output_folder_base  # type: ignore[has-type]
        with tempfile.TemporaryDirectory(prefix="svseg_rank_copies_") as scratch:
            self.output_folder_base = scratch
            try:
                super().on_train_start()  # type: ignore[misc]
            finally:
                self.output_folder_base = model_folder

    def perform_actual_validation(self, save_probabilities: bool = False) -> None:
        """The final validation of the fold, run by the main process alone on the plain network.

        nnU-Net shares the validation cases between the ranks and each writes its own; here the
        main process predicts and writes them all while the others return (the launcher makes
        them wait for it), so no rank but the main one writes into the results folder.
        """
        if not self.is_ddp:  # type: ignore[attr-defined]
            super().perform_actual_validation(save_probabilities)  # type: ignore[misc]
            return
        if self.local_rank != 0:  # type: ignore[attr-defined]
            return
        wrapped = self.network  # type: ignore[has-type]
        self.network, self.is_ddp = unwrap_ddp(wrapped), False
        try:
            super().perform_actual_validation(save_probabilities)  # type: ignore[misc]
        finally:
            self.network, self.is_ddp = wrapped, True


def unwrap_ddp(network: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (a compiled network stays compiled)."""
    return network.module if isinstance(network, nn.parallel.DistributedDataParallel) else network


class DistributedTraceHooks:
    """``SVSEG_DDP_TRACE``: record what each rank trained on (mixin for SvsegTrainer; off by default)."""

    _trace: dict[str, Any] | None = None

    def train_step(self, batch: dict) -> dict:
        """Record the weights before the first step and every batch, then train as usual."""
        if os.environ.get(TRACE_ENV):
            if self._trace is None:
                self._trace = {"initial": _weights(self.network), "batches": []}  # type: ignore[attr-defined]
            self._trace["batches"].append({"data": batch["data"].clone(), "target": _clone(batch["target"])})
        return super().train_step(batch)  # type: ignore[misc]

    def on_train_end(self) -> None:
        """nnU-Net's end of training, then this rank's trace file (when tracing)."""
        super().on_train_end()  # type: ignore[misc]
        folder = os.environ.get(TRACE_ENV)
        if folder and self._trace is not None:
            rank = dist.get_rank() if self.is_ddp else 0  # type: ignore[attr-defined]
            trace = {**self._trace, "final": _weights(self.network)}  # type: ignore[attr-defined]
            atomic_torch_save(Path(folder) / f"rank{rank}.pt", trace)


def _weights(network: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu().clone() for key, value in unwrap_network(network).state_dict().items()}


def _clone(target: Any) -> Any:
    return [part.clone() for part in target] if isinstance(target, list) else target.clone()
