"""Multi-GPU training through nnU-Net's DDP path, started by svseg or by ``torchrun``.

nnU-Net's trainer becomes distributed by itself once a process group exists
(``dist.is_initialized()``): it splits the global batch over the ranks, wraps the network in
DDP with SyncBatchNorm, gathers losses and pseudo-Dice, checkpoints and logs on rank 0 only, and
shares the final validation cases between ranks. What is left to the launcher is what nnU-Net's
``run_ddp`` does: one process per GPU, an NCCL process group, ``torch.cuda.set_device(rank)``.

Two launchers:

- ``--num-gpus N``: :func:`spawn_ddp` starts N workers with ``torch.multiprocessing.spawn`` on
  this machine (``MASTER_ADDR=localhost``, a free port unless ``MASTER_PORT`` is set).
- ``torchrun --standalone --nproc_per_node N --no-python svseg train ...``: every process finds
  torchrun's ``RANK``/``LOCAL_RANK``/``WORLD_SIZE`` and joins the group itself
  (:func:`run_torchrun_rank`).

nnU-Net's trainer uses the global rank as the CUDA device index and for "am I the main
process", so one job must not span machines; several machines train different folds (or
datasets) as separate single-node jobs (docs/training.md). A multi-node launch is refused with
that explanation rather than failing later on a missing GPU.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist

from svseg.errors import SvsegError
from svseg.training.job import TrainingJob, run_job

log = logging.getLogger(__name__)

_BACKEND = "nccl"


@dataclass(frozen=True)
class TorchrunRank:
    """This process's place in a torchrun job."""

    rank: int
    local_rank: int
    world_size: int


def torchrun_rank() -> TorchrunRank | None:
    """The torchrun placement from the environment, or None when not started by torchrun."""
    if "LOCAL_RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    try:
        return TorchrunRank(int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"]))
    except (KeyError, ValueError) as exc:
        raise SvsegError(f"torchrun environment is incomplete or malformed ({exc})") from None


def check_ddp_request(device: torch.device, world_size: int, batch_size: int) -> None:
    """Refuse DDP set-ups nnU-Net cannot run, before any process is started."""
    if device.type != "cuda":
        raise SvsegError(f"multi-GPU training needs CUDA GPUs; the device here is {device.type}")
    available = torch.cuda.device_count()
    if available < world_size:
        raise SvsegError(f"{world_size} GPUs requested but {available} visible (check CUDA_VISIBLE_DEVICES)")
    if batch_size < world_size:
        raise SvsegError(
            f"batch size {batch_size} is smaller than the {world_size} GPUs; nnU-Net splits one batch over the GPUs"
        )


def check_single_node(placement: TorchrunRank) -> None:
    """Refuse a torchrun job spanning machines (nnU-Net maps the global rank to the GPU index)."""
    if placement.rank != placement.local_rank:
        raise SvsegError(
            f"torchrun rank {placement.rank} has local rank {placement.local_rank}: svseg (nnU-Net) training runs "
            "on one machine per job; train different folds on different machines instead (see docs/training.md)"
        )


def free_port() -> int:
    """A free TCP port on this machine for the process group's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def _ddp_worker(rank: int, job: TrainingJob, world_size: int) -> None:
    """One spawned rank: join the group, pin the GPU, run the job, leave the group."""
    if rank == 0:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    dist.init_process_group(_BACKEND, rank=rank, world_size=world_size)
    try:
        torch.cuda.set_device(torch.device("cuda", rank))
        run_job(job, torch.device("cuda"))
    finally:
        dist.destroy_process_group()


def spawn_ddp(job: TrainingJob, world_size: int) -> None:
    """Train `job` on `world_size` local GPUs, one spawned process each (nnU-Net's ``run_ddp``)."""
    import torch.multiprocessing as mp

    os.environ["MASTER_ADDR"] = "localhost"
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    log.info("starting %d DDP workers (port %s)", world_size, os.environ["MASTER_PORT"])
    mp.spawn(_ddp_worker, args=(job, world_size), nprocs=world_size, join=True)


def run_torchrun_rank(job: TrainingJob, placement: TorchrunRank) -> None:
    """Train `job` as one process of a torchrun job (the group comes from torchrun's environment)."""
    check_single_node(placement)
    dist.init_process_group(_BACKEND)
    try:
        torch.cuda.set_device(torch.device("cuda", placement.local_rank))
        run_job(job, torch.device("cuda"))
    finally:
        dist.destroy_process_group()
