"""Shared fixtures: every test gets its own data root, never the user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, give each worker its share of the cores (svseg honours OMP_NUM_THREADS).

    Otherwise every worker's training takes all cores and N workers run N x cores threads: on
    the 2-core CI machine the oversubscribed trainings took about twice as long each.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        share = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(share)
        torch.set_num_threads(share)


@pytest.fixture(autouse=True)
def isolated_data_root(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point SVSEG_HOME at a fresh folder and hide any nnU-Net variables of the user's shell."""
    home = tmp_path_factory.mktemp("svseg_home")
    monkeypatch.setenv("SVSEG_HOME", str(home))
    for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SVSEG_QUIET", "1")
    return home
