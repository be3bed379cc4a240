"""Distributed training through nnU-Net's DDP path: one machine or several, GPUs or CPUs.

nnU-Net's trainer becomes distributed by itself once a process group exists
(``dist.is_initialized()``): it splits the global batch over the ranks, gathers losses and
pseudo-Dice, and checkpoints and logs on the main process. svseg's trainer fixes the parts that
assume one machine with GPUs (:mod:`svseg.training.distributed_hooks`); this module is the
launcher side: the process group, the device of each rank, timeouts and failures.

Two launchers, one code path per rank (:func:`run_rank`):

- ``--num-gpus N``: :func:`spawn_ddp` starts N workers on this machine's GPUs with
  ``torch.multiprocessing.spawn`` like nnU-Net's ``run_ddp`` (``MASTER_ADDR=localhost``, a free
  port unless ``MASTER_PORT`` is set).
- ``torchrun`` (one machine with ``--standalone``, several with ``--nnodes N --rdzv-backend c10d
  --rdzv-endpoint HOST:PORT``): every process reads torchrun's ``RANK``/``LOCAL_RANK``/
  ``WORLD_SIZE`` and joins the group itself.

The backend follows the device: NCCL on CUDA (each rank binds GPU ``LOCAL_RANK``), gloo on the
CPU. Collective calls give up after ``SVSEG_DDP_TIMEOUT`` seconds (default 1800, torch's own
default), so a rank whose peer died or hangs stops with one line instead of waiting forever.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from svseg.errors import SvsegError
from svseg.training.job import TrainingJob, run_job

log = logging.getLogger(__name__)

TIMEOUT_ENV = "SVSEG_DDP_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800.0
# How long the other ranks wait for the main process's final validation (it runs alone, and
# on a large fold it takes far longer than any step of training).
FINAL_WAIT = timedelta(hours=24)
# Text of the errors torch raises when a peer of a collective call is gone or too slow.
_PEER_FAILURE_MARKERS = ("gloo", "nccl", "connection", "timed out", "timeout", "broken pipe")


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


def backend_for(device: torch.device) -> str:
    """NCCL for GPUs, gloo for the CPU (the backends torch.distributed offers for each)."""
    return "nccl" if device.type == "cuda" else "gloo"


def ddp_timeout() -> timedelta:
    """The collective-call timeout: ``SVSEG_DDP_TIMEOUT`` seconds, else torch's default of 30 min."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return timedelta(seconds=DEFAULT_TIMEOUT_S)
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise SvsegError(f"{TIMEOUT_ENV}={text!r}: must be a positive number of seconds")
    return timedelta(seconds=seconds)


def check_ddp_request(device: torch.device, world_size: int, batch_size: int, local_rank: int | None = None) -> None:
    """Refuse distributed set-ups nnU-Net cannot run, before any process group or file exists.

    `local_rank` is this process's index on its machine (torchrun), which is the GPU it binds;
    without it (``--num-gpus``) all `world_size` ranks need a GPU here.
    """
    if device.type not in ("cuda", "cpu"):
        raise SvsegError(f"distributed training runs on CUDA GPUs (NCCL) or on the CPU (gloo), not on {device.type}")
    if device.type == "cuda":
        needed = world_size if local_rank is None else local_rank + 1
        available = torch.cuda.device_count()
        if available < needed:
            if local_rank is None:
                what = f"{world_size} GPUs requested"
            else:
                what = f"local rank {local_rank} needs GPU {local_rank}"
            raise SvsegError(f"{what} but {available} visible (check CUDA_VISIBLE_DEVICES)")
    if batch_size < world_size:
        ranks = f"{world_size} GPUs" if device.type == "cuda" else f"{world_size} CPU processes"
        raise SvsegError(
            f"batch size {batch_size} is smaller than the {ranks}; nnU-Net splits one batch over the "
            f"{'GPUs' if device.type == 'cuda' else 'processes'}"
        )


def free_port() -> int:
    """A free TCP port on this machine for the process group's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def rank_device(device: torch.device, local_rank: int) -> torch.device:
    """The device one rank trains on: GPU `local_rank` of its machine, or the CPU."""
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return device


@contextmanager
def process_group(device: torch.device, rank: int | None = None, world_size: int | None = None) -> Iterator[object]:
    """Join the job's process group (from torchrun's environment unless `rank` is given).

    Yields a gloo group with a long timeout on which the other ranks wait for the main
    process's final validation (NCCL would abort a wait that long; gloo also exists on GPUs).
    """
    placement = {} if rank is None else {"rank": rank, "world_size": world_size}
    dist.init_process_group(backend_for(device), timeout=ddp_timeout(), **placement)
    try:
        yield dist.new_group(backend="gloo", timeout=FINAL_WAIT)
    finally:
        dist.destroy_process_group()


def run_rank(job: TrainingJob, device: torch.device, rank: int | None = None, world_size: int | None = None) -> None:
    """Train `job` as one rank; a lost or silent peer becomes one line instead of a traceback or a hang."""
    where = f"rank {os.environ.get('RANK', rank)} of {os.environ.get('WORLD_SIZE', world_size)}"
    try:
        with process_group(device, rank, world_size) as final_group:
            check_same_job(job)
            run_job(job, device)
            if dist.get_rank() != 0:
                log.info("%s: training done; waiting for the main process's final validation", where)
            dist.barrier(group=final_group)
    except RuntimeError as exc:
        if not is_peer_failure(exc):
            raise
        text = str(exc).strip()
        first_line = text.splitlines()[0][:200] if text else type(exc).__name__
        raise SvsegError(
            f"{where}: lost contact with another rank ({first_line}); the job stops here. See the other ranks' "
            "output for the cause, then rerun the same command with --continue"
        ) from None


def is_peer_failure(exc: BaseException) -> bool:
    """True for torch.distributed's errors about a dead, unreachable or too slow peer."""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _PEER_FAILURE_MARKERS)


def job_identity(job: TrainingJob) -> dict[str, object]:
    """What every rank must agree on: the run's plans, fold and the checkpoint it starts from.

    The checkpoint is compared by name (not path): machines may mount the shared folder at
    different places.
    """
    plans = json.dumps(job.plans, sort_keys=True, default=str).encode()
    checkpoint = os.path.basename(job.resume_checkpoint) if job.resume_checkpoint else None
    return {"plans": hashlib.sha256(plans).hexdigest()[:12], "configuration": job.configuration,
            "fold": job.fold, "checkpoint": checkpoint, "validate_only": job.validate_only}


def check_same_job(job: TrainingJob) -> None:
    """Refuse a job whose ranks read different data roots (SVSEG_HOME not shared, stale copies)."""
    everyone: list[dict[str, object]] = [{}] * dist.get_world_size()
    dist.all_gather_object(everyone, job_identity(job))
    for rank, theirs in enumerate(everyone):
        differences = [f"{key} ({everyone[0][key]} on rank 0, {value} on rank {rank})"
                       for key, value in theirs.items() if value != everyone[0][key]]
        if differences:
            raise SvsegError(
                f"the ranks would run different jobs: {'; '.join(differences)}; every machine must see the same "
                "SVSEG_HOME (one shared filesystem) and run the same command"
            )


def _ddp_worker(rank: int, job: TrainingJob, world_size: int, device: torch.device) -> None:
    """One spawned rank (``--num-gpus``): rank and local rank are the same on one machine."""
    if rank == 0:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_rank(job, rank_device(device, rank), rank, world_size)


def spawn_ddp(job: TrainingJob, world_size: int, device: torch.device | None = None) -> None:
    """Train `job` on `world_size` local GPUs, one spawned process each (nnU-Net's ``run_ddp``)."""
    import torch.multiprocessing as mp

    os.environ["MASTER_ADDR"] = "localhost"
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    log.info("starting %d DDP workers (port %s)", world_size, os.environ["MASTER_PORT"])
    mp.spawn(_ddp_worker, args=(job, world_size, device or torch.device("cuda")), nprocs=world_size, join=True)


def run_torchrun_rank(job: TrainingJob, placement: TorchrunRank, device: torch.device | None = None) -> None:
    """Train `job` as one process of a torchrun job (the group comes from torchrun's environment)."""
    device = rank_device(device or torch.device("cuda"), placement.local_rank)
    log.info("rank %d of %d (local rank %d) training on %s (%s)", placement.rank, placement.world_size,
             placement.local_rank, device, backend_for(device))
    run_rank(job, device)
