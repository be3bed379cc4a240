"""Data roots and dataset name resolution (svseg/paths.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from svseg import paths
from svseg.errors import SvsegError


def _make(root: Path, folder: str) -> None:
    (root / folder).mkdir(parents=True)


def test_roots_follow_svseg_home(isolated_data_root: Path) -> None:
    assert paths.raw_root() == isolated_data_root / "raw"
    assert paths.preprocessed_root() == isolated_data_root / "preprocessed"
    assert paths.results_root() == isolated_data_root / "results"


def test_nnunet_variables_win_when_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("nnUNet_raw", str(tmp_path / "elsewhere"))
    assert paths.raw_root() == (tmp_path / "elsewhere").resolve()
    exported = paths.export_nnunet_environment()
    assert exported["nnUNet_raw"] == str((tmp_path / "elsewhere").resolve())
    assert os.environ["nnUNet_results"] == str(paths.results_root())


@pytest.mark.parametrize("spec", ["ATLAS", "atlas", "1", "001", "Dataset001_ATLAS"])
def test_resolve_by_name_id_or_folder(spec: str) -> None:
    _make(paths.raw_root(), "Dataset001_ATLAS")
    _make(paths.raw_root(), "Dataset002_KiTS")
    ref = paths.resolve_dataset(spec)
    assert (ref.dataset_id, ref.name, ref.folder_name) == (1, "ATLAS", "Dataset001_ATLAS")
    assert ref.raw_dir == paths.raw_root() / "Dataset001_ATLAS"


def test_unknown_dataset_lists_what_exists() -> None:
    _make(paths.raw_root(), "Dataset001_ATLAS")
    with pytest.raises(SvsegError, match="Dataset001_ATLAS"):
        paths.resolve_dataset("BRATS")


def test_ambiguous_id_is_an_error() -> None:
    _make(paths.raw_root(), "Dataset004_A")
    _make(paths.preprocessed_root(), "Dataset004_B")
    with pytest.raises(SvsegError, match="ambiguous"):
        paths.resolve_dataset("4")


@pytest.mark.parametrize("name", ["../etc", "a/b", "/abs", "", "x y", ".."])
def test_names_cannot_escape_the_data_root(name: str) -> None:
    with pytest.raises(SvsegError):
        paths.check_dataset_name(name)
    with pytest.raises(SvsegError):
        paths.resolve_dataset(name)


def test_next_free_id_skips_used_ids() -> None:
    _make(paths.raw_root(), "Dataset001_A")
    _make(paths.results_root(), "Dataset002_B")
    assert paths.next_free_dataset_id() == 3
