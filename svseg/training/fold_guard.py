"""What keeps a fold folder to one writer and a refused run without a trace.

``svseg train`` checks everything it can before its first write; these are the three checks
and guards that need more than reading the inputs:

- :func:`fold_lock`: one writer per fold. The lock file ``.train_fold_<k>.lock`` sits in the
  model folder, beside the fold folder (``--overwrite`` deletes the fold folder, so the lock
  cannot live inside it). Under ``torchrun`` only global rank 0 takes it; the ranks of one job
  are one writer (nnU-Net writes from rank 0 only). Taking it also removes the temporary files a
  killed run of this fold left behind (a checkpoint or mask being written at the kill).
- :func:`check_network_builds`: the run's network is built once on PyTorch's ``meta`` device
  (shapes only, no memory, no weights) so plans whose architecture nnU-Net cannot build are
  refused before nnU-Net's trainer creates the fold folder and its log.
- :func:`check_weight_files`: the checkpoint to resume from and the ``--pretrained`` file are read
  once with svseg's weights-only reader before nnU-Net's trainer is built, so a truncated, foreign
  or unsafe file is refused before the trainer prints its banner and writes its log;
- :func:`no_trace_on_refusal`: nnU-Net's trainer writes its log as soon as it is constructed, so
  a refusal raised while it is set up (SvsegError) would leave a fold folder holding a log and
  ``svseg_run.json``; a fold folder this run created and that holds no checkpoint is removed.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError
from svseg.utils.fs import remove_stale_temporaries
from svseg.utils.locks import run_lock

log = logging.getLogger(__name__)


def lock_path(model_dir: Path, fold: int | str) -> Path:
    """The lock file of one fold of one model folder (dataset + plans + configuration + trainer)."""
    return Path(model_dir) / f".train_fold_{fold}.lock"


@contextlib.contextmanager
def fold_lock(model_dir: Path, fold: int | str, command: str) -> Iterator[None]:
    """Hold the fold's lock (main process only) and clear what a killed run of the fold left."""
    from svseg.training.ddp import torchrun_rank

    placement = torchrun_rank()
    if placement is not None and placement.rank != 0:
        yield
        return
    with run_lock(lock_path(model_dir, fold), command):
        remove_stale_temporaries(Path(model_dir) / f"fold_{fold}", recursive=True)
        yield


@contextlib.contextmanager
def no_trace_on_refusal(fold_dir: Path) -> Iterator[None]:
    """On SvsegError, remove `fold_dir` if it did not exist before and holds no checkpoint."""
    from svseg.training.ddp import torchrun_rank

    placement = torchrun_rank()
    main = placement is None or placement.rank == 0  # other ranks never delete what rank 0 may be writing
    fresh = not fold_dir.exists()
    try:
        yield
    except SvsegError:
        if main and fresh and fold_dir.is_dir() and not any(fold_dir.glob("checkpoint_*.pth")):
            log.debug("refused before training: removing %s", fold_dir)
            shutil.rmtree(fold_dir, ignore_errors=True)
        raise


def check_weight_files(checkpoint: Path | None, pretrained: Path | None, resumes: bool) -> None:
    """Read the resume `checkpoint` and the `pretrained` file weights-only; a file that will not load is SvsegError.

    `resumes`: the run continues training from `checkpoint` (not only re-validates a finished
    fold), so the checkpoint must hold the training state too.
    """
    from svseg.training.checkpoints import RESUME_KEYS, read_checkpoint
    from svseg.utils.torch_files import PRETRAINED, load_torch_file

    if checkpoint is not None:
        loaded = read_checkpoint(checkpoint)
        missing = [key for key in RESUME_KEYS if key not in loaded] if resumes else []
        if missing:
            raise SvsegError(f"{checkpoint}: cannot resume from it: no {', '.join(missing)} (only weights?); "
                             "start a new training, e.g. with --pretrained on this file")
        del loaded
    if pretrained is not None:
        load_torch_file(pretrained, "cpu", PRETRAINED)  # the weights are loaded again once the network exists


def check_network_builds(plans: dict[str, Any], configuration: str, dataset_json: dict[str, Any], trainer: str,
                         source: Path) -> None:
    """Build the configuration's network on the meta device; an architecture it rejects is SvsegError.

    Errors that only the meta device raises (an initialiser reading values) are left to the real
    build, which reports them as they are.
    """
    import torch
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels

    from svseg.nnunet_touchpoints import plans_manager
    from svseg.training.network_from_plans import architecture_supports_deep_supervision
    from svseg.training.run_plans import trainer_class

    manager = plans_manager(plans)
    config = manager.get_configuration(configuration)
    try:
        heads = manager.get_label_manager(dataset_json).num_segmentation_heads
        channels = determine_num_input_channels(manager, config, dataset_json)
        deep = architecture_supports_deep_supervision(config.configuration["architecture"])
        with torch.device("meta"):
            trainer_class(trainer).build_network_architecture(manager, config, channels, heads, deep)
    except (AssertionError, TypeError, ValueError, KeyError, IndexError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise SvsegError(f"{source}: the network of configuration {configuration!r} cannot be built from its "
                         f"architecture ({reason})") from None
    except (NotImplementedError, RuntimeError) as exc:
        log.debug("meta-device check of %s skipped: %s", configuration, exc)
