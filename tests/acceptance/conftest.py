"""Shared set-up of the acceptance suite: cheap nnU-Net pools, and one trained model per module.

A module trains one model (import, plan, train on a form of user data) in a module-scoped
fixture under its own data root; its tests predict and evaluate other folders with it. Each
test that uses the model points ``SVSEG_HOME`` at that root with :func:`use_root`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from .userdata import UserFolders
from .walk import Walk

# nnU-Net sizes its export and metrics pools from this variable when first imported. Every worker is a
# spawned process importing torch and nnU-Net (seconds each), to export two validation cases: one is enough.
os.environ.setdefault("nnUNet_def_n_proc", "1")


@dataclass(frozen=True)
class Trained:
    """A module's data root, the form its model was trained on, and that run."""

    home: Path
    folders: UserFolders
    run: Walk


@contextmanager
def data_root(home: Path) -> Iterator[Path]:
    """Point svseg (and nnU-Net through it) at data root `home` for the block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SVSEG_HOME", str(home))
        patch.setenv("SVSEG_QUIET", "1")
        for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
            patch.delenv(variable, raising=False)
        yield home


def use_root(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test works in the module's data root (the one holding the trained model)."""
    monkeypatch.setenv("SVSEG_HOME", str(trained.home))
    return trained.home
