"""Shared fixtures: every test gets its own data root, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_data_root(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point SVSEG_HOME at a fresh folder and hide any nnU-Net variables of the user's shell."""
    home = tmp_path_factory.mktemp("svseg_home")
    monkeypatch.setenv("SVSEG_HOME", str(home))
    for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SVSEG_QUIET", "1")
    return home
