"""A data root for planning in a session or module fixture: svseg's folders, a quick fingerprint.

Session fixtures cannot use the function-scoped ``monkeypatch``; this context manager gives them
the same isolation: SVSEG_HOME at the given folder, the user's nnU-Net variables hidden (and
restored afterwards), and nnU-Net's fingerprint sampling 1e5 intensity values instead of 1e8
(fast; the intensity statistics are not what these fixtures test).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NNUNET_VARIABLES = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")


@contextmanager
def planning_root(home: Path) -> Iterator[pytest.MonkeyPatch]:
    """Plan inside `home` for the duration of the block; yields the patch for further changes."""
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor

    original = DatasetFingerprintExtractor.__init__

    def fewer_samples(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self.num_foreground_voxels_for_intensitystats = 1e5

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatasetFingerprintExtractor, "__init__", fewer_samples)
        patch.setenv("SVSEG_HOME", str(home))
        for variable in NNUNET_VARIABLES:
            patch.setenv(variable, "")  # recorded, so leaving the block restores the caller's value
            patch.delenv(variable)
        yield patch


def plan_png_disks(home: Path) -> Path:
    """The PNG disk dataset of tests/training/conftest.py planned under `home` with the small U-Net.

    Preset ``cpu_quick`` with its network swapped for the small nnU-Net U-Net (the one network whose
    plans name torch.nn classes for nnU-Net to import). Call inside :func:`planning_root`; returns
    the preprocessed dataset folder.
    """
    from svseg.planning.api import plan_and_preprocess

    from .training.conftest import PNG_ID, PNG_NAME, use_small_unet, write_png_dataset

    write_png_dataset(home / "raw")
    plan_and_preprocess(PNG_NAME, preset="cpu_quick", num_processes=1)
    folder = home / "preprocessed" / f"Dataset{PNG_ID:03d}_{PNG_NAME}"
    use_small_unet(folder / "svsegPlans.json")
    return folder
