"""Which device training runs on, and the process settings that go with it.

nnU-Net's own entry point defaults to CUDA and fails on machines without it; svseg picks what
exists (``auto``) and turns an impossible request (``cuda`` on a CPU-only machine) into a one-line
user error instead of a torch traceback. The thread settings follow nnU-Net's
``run_training_entry``: on CPU torch may use every core, on a GPU one thread is enough because
the work happens on the device and the cores are needed by the augmentation workers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from svseg.errors import SvsegError

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cuda", "cpu", "mps")
_COMPILE_ENV = "nnUNet_compile"
_WORKERS_ENV = "nnUNet_n_proc_DA"
_POOL_ENV = "nnUNet_def_n_proc"
_THREADS_ENV = "OMP_NUM_THREADS"  # torch's and torchrun's thread variable, honoured on the CPU
# nnU-Net's own default for augmentation processes per GPU (nnunetv2/utilities/default_n_proc_DA.py).
_NNUNET_WORKERS_PER_GPU = 12
# nnU-Net's default size of its spawn pools for export and evaluation (nnunetv2/configuration.py).
_NNUNET_POOL_SIZE = 8


def mps_available() -> bool:
    """True when Apple's Metal backend can be used."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str) -> torch.device:
    """Turn ``auto|cuda|cpu|mps`` into a torch device that exists on this machine.

    ``auto`` prefers CUDA, then MPS, then the CPU.
    """
    choice = (name or "auto").lower()
    if choice not in DEVICE_CHOICES:
        raise SvsegError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_available() else torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise SvsegError("--device cuda: no CUDA GPU is visible to torch here; use --device cpu (or auto)")
    if choice == "mps" and not mps_available():
        raise SvsegError("--device mps: Apple's Metal backend is not available here; use --device cpu (or auto)")
    return torch.device(choice)


def configure_threads(device: torch.device) -> None:
    """Set torch's intra-op threads the way nnU-Net's entry point does for this device.

    On the CPU, nnU-Net gives torch every core; the ranks torchrun starts on one machine
    (``LOCAL_WORLD_SIZE``) share them, so that N processes do not each start a thread per core.
    An exported ``OMP_NUM_THREADS`` wins (the variable torch itself and torchrun use): a user
    running several jobs side by side on one machine gives each its share that way.
    """
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads())
    else:
        torch.set_num_threads(1)
    if device.type == "cuda":
        # nnU-Net's choice for convolution networks with fixed patch sizes: let cuDNN pick the
        # fastest algorithms once; results are not bit-reproducible, as in nnU-Net.
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.benchmark = True


def cpu_threads() -> int:
    """Torch threads for CPU training: ``OMP_NUM_THREADS`` if a positive integer, else this rank's share of cores."""
    exported = os.environ.get(_THREADS_ENV, "").strip()
    if exported.isdigit() and int(exported) > 0:
        return int(exported)
    return max(1, (os.cpu_count() or 1) // local_world_size())


def local_world_size() -> int:
    """How many processes of this job run on this machine (torchrun's ``LOCAL_WORLD_SIZE``, else 1)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def configure_compile(compile_network: bool | None) -> None:
    """Force torch.compile on or off for nnU-Net's trainer, or keep its default (None).

    nnU-Net reads ``nnUNet_compile`` itself and compiles only on CUDA (never on CPU, MPS or
    Windows), so ``None`` means: compile on CUDA, not elsewhere. The variable is inherited by
    DDP workers.
    """
    if compile_network is None:
        return
    os.environ[_COMPILE_ENV] = "t" if compile_network else "f"


def describe_device(device: torch.device) -> str:
    """A short human description: the GPU's name on CUDA, the core count on CPU."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device.index or 0)}, {torch.cuda.device_count()} visible)"
    if device.type == "cpu":
        return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    return device.type


def augmentation_workers(device: torch.device, num_gpus: int = 1) -> int:
    """Augmentation processes per GPU that suit this machine.

    On a GPU, nnU-Net's default (12) capped so that all GPUs' workers plus the main processes fit
    the cores. On the CPU the network and the augmentation compete for the same cores, so
    augmentation runs in the training process (0): on the 2-core development machine that was as
    fast as 2 workers (52.9 s vs 54.8 s; docs/design/nnunet-integration.md,
    'Measurements that shaped the defaults') and starts no
    extra processes.
    """
    cores = os.cpu_count() or 1
    if device.type == "cpu":
        return 0
    per_gpu = (cores - num_gpus) // max(1, num_gpus)
    return max(1, min(_NNUNET_WORKERS_PER_GPU, per_gpu))


def configure_workers(device: torch.device, num_gpus: int = 1, num_workers: int | None = None) -> int:
    """Set nnU-Net's worker counts for this run and return the augmentation count.

    An explicit `num_workers` wins, then a value the user exported, then
    :func:`augmentation_workers` for `num_gpus` processes on this machine (under torchrun: its
    ranks here). nnU-Net's export/evaluation pool (8 by default) is capped at the core count
    unless the user set it; nnU-Net reads that variable when first imported.
    """
    if num_workers is not None:
        if num_workers < 0:
            raise SvsegError(f"--num-workers {num_workers}: must be 0 (augment in the training process) or more")
        os.environ[_WORKERS_ENV] = str(num_workers)
    elif _WORKERS_ENV not in os.environ:
        os.environ[_WORKERS_ENV] = str(augmentation_workers(device, max(num_gpus, local_world_size())))
    os.environ.setdefault(_POOL_ENV, str(min(_NNUNET_POOL_SIZE, os.cpu_count() or 1)))
    workers = int(os.environ[_WORKERS_ENV])
    log.debug("augmentation workers: %d, export pool: %s", workers, os.environ[_POOL_ENV])
    return workers


@contextmanager
def scoped_settings() -> Iterator[None]:
    """Undo this module's process-wide settings (nnU-Net variables, torch threads) on exit.

    Training changes them for its own run only: left behind, ``nnUNet_n_proc_DA=0`` for example
    would break nnU-Net's planner later in the same process (it calls
    ``torch.set_num_threads(nnUNet_n_proc_DA)``). DDP workers spawned inside the block inherit
    the settings.
    """
    names = (_WORKERS_ENV, _POOL_ENV, _COMPILE_ENV)
    saved = {name: os.environ.get(name) for name in names}
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        torch.set_num_threads(threads)
