"""Checkpoints in nnU-Net's format, written atomically and readable with ``weights_only=True``.

nnU-Net's ``save_checkpoint`` calls ``torch.save`` on the final file name (a kill during the write
leaves a truncated checkpoint) and its ``load_checkpoint`` unpickles with ``weights_only=False``.
svseg keeps nnU-Net's dict layout exactly (``network_weights``, ``optimizer_state``,
``grad_scaler_state``, ``logging``, ``_best_ema``, ``current_epoch``, ``init_args``,
``trainer_name``, ``inference_allowed_mirroring_axes``) so nnU-Net's predictor and svseg's read it
unchanged, but:

- writes through :func:`svseg.utils.fs.atomic_torch_save` (temporary file, fsync, rename), so
  ``checkpoint_latest.pth`` is always either the previous or the new checkpoint;
- stores only types the weights-only unpickler accepts: nnU-Net's logger and best-EMA values are
  numpy scalars, which it rejects, so they are turned into Python numbers first;
- loads through :func:`read_checkpoint`, the one checkpoint reader of svseg (training resume,
  prediction, comparison): ``weights_only=True`` always, a file that needs a full unpickle is
  refused (:mod:`svseg.utils.torch_files`). nnU-Net's own ``load_checkpoint`` cannot be reused
  for this: it only accepts a file name (a dict argument is never bound), so the restore is
  written out here against the same keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from svseg.errors import SvsegError
from svseg.training.network_from_plans import unwrap_network
from svseg.utils.fs import atomic_torch_save
from svseg.utils.torch_files import CHECKPOINT, load_torch_file

CHECKPOINT_FINAL = "checkpoint_final.pth"
CHECKPOINT_LATEST = "checkpoint_latest.pth"
CHECKPOINT_BEST = "checkpoint_best.pth"
# nnU-Net's order when continuing: a finished run only re-validates, else the newest state.
RESUME_ORDER = (CHECKPOINT_FINAL, CHECKPOINT_LATEST, CHECKPOINT_BEST)
# What a resume restores beyond the weights; a weights-only file cannot be resumed.
RESUME_KEYS = ("optimizer_state", "current_epoch", "logging", "_best_ema")


def to_plain(value: Any) -> Any:
    """`value` with numpy scalars and arrays replaced by Python numbers and lists (recursively)."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        converted = [to_plain(item) for item in value]
        return converted if isinstance(value, list) else tuple(converted)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_checkpoint(path: Path | str, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """An nnU-Net/svseg checkpoint dict, read weights-only; a corrupt, foreign or unsafe file is one error line."""
    path = Path(path)
    checkpoint = load_torch_file(path, map_location, CHECKPOINT)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("network_weights"), dict):
        raise SvsegError(f"{path}: not an nnU-Net/svseg checkpoint (no 'network_weights')")
    return checkpoint


def find_resume_checkpoint(fold_dir: Path) -> Path | None:
    """The checkpoint ``--continue`` resumes from (final, else latest, else best), or None.

    A folder (or other non-file) under a checkpoint's name is a user error, not a missing file:
    skipping it would start a new training that fails only when it saves over that name.
    """
    for name in RESUME_ORDER:
        candidate = fold_dir / name
        if candidate.exists() and not candidate.is_file():
            raise SvsegError(f"{candidate}: is a folder, not a checkpoint file; move it away")
        if candidate.is_file():
            return candidate
    return None


class AtomicCheckpointHooks:
    """Trainer hooks that save and restore checkpoints (mixin for SvsegTrainer)."""

    def save_checkpoint(self, filename: str) -> None:
        """nnU-Net's checkpoint dict, in plain types, written atomically by rank 0 only."""
        if self.local_rank != 0:
            return
        if self.disable_checkpointing:
            self.print_to_log_file("No checkpoint written, checkpointing is disabled")
            return
        checkpoint = {
            "network_weights": unwrap_network(self.network).state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "grad_scaler_state": self.grad_scaler.state_dict() if self.grad_scaler is not None else None,
            "logging": to_plain(self.logger.get_checkpoint()),
            "_best_ema": to_plain(self._best_ema),
            "current_epoch": self.current_epoch + 1,
            "init_args": to_plain(self.my_init_kwargs),
            "trainer_name": type(self).__name__,
            "inference_allowed_mirroring_axes": to_plain(self.inference_allowed_mirroring_axes),
        }
        atomic_torch_save(filename, checkpoint)

    def load_checkpoint(self, filename_or_checkpoint: dict | str | Path) -> None:
        """Restore weights, optimizer, logger, epoch counter and best EMA from a checkpoint.

        The trainer keeps its own ``init_args`` (nnU-Net copies the checkpoint's): a run resumed
        with a changed recipe records the plans it really ran with in the checkpoints it writes.
        """
        if not self.was_initialized:
            self.initialize()
        if isinstance(filename_or_checkpoint, dict):
            checkpoint, where = filename_or_checkpoint, "checkpoint"
        else:
            checkpoint = read_checkpoint(filename_or_checkpoint, map_location=self.device)
            where = str(filename_or_checkpoint)
        missing = [key for key in RESUME_KEYS if key not in checkpoint]
        if missing:
            raise SvsegError(f"{where}: cannot resume from it: no {', '.join(missing)} (only weights?); "
                             "start a new training, e.g. with --pretrained on this file")
        network = unwrap_network(self.network)
        own_keys = set(network.state_dict())
        weights = {
            (key if key in own_keys else key.removeprefix("module.")): value
            for key, value in checkpoint["network_weights"].items()
        }
        try:
            network.load_state_dict(weights)
            self.optimizer.load_state_dict(checkpoint["optimizer_state"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise SvsegError(f"{where}: does not fit the network or optimizer in the plans "
                             f"({str(exc).strip().splitlines()[0][:200]})") from None
        self.current_epoch = checkpoint["current_epoch"]
        self.logger.load_checkpoint(checkpoint["logging"])
        self._best_ema = checkpoint["_best_ema"]
        self.inference_allowed_mirroring_axes = checkpoint.get(
            "inference_allowed_mirroring_axes", self.inference_allowed_mirroring_axes
        )
        if self.grad_scaler is not None and checkpoint.get("grad_scaler_state") is not None:
            self.grad_scaler.load_state_dict(checkpoint["grad_scaler_state"])
