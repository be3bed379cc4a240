"""Choosing the model folder and folds, and loading checkpoints without unsafe unpickling."""

from __future__ import annotations

import logging
import pathlib
from pathlib import Path

import pytest
import torch

from svseg.errors import SvsegError
from svseg.inference.model_loading import (
    find_trained_models,
    load_checkpoint,
    load_model,
    resolve_folds,
    select_model,
)

from .models import make_model_folder


def test_the_only_trained_model_is_used_without_dataset_or_model(planned: dict, tmp_path: Path) -> None:
    results = tmp_path / "results"
    png = make_model_folder(results, planned["png"])
    assert select_model(results, None, None, None, "final") == png
    nifti = make_model_folder(results, planned["nifti"])
    with pytest.raises(SvsegError, match="several trained models") as info:
        select_model(results, None, None, None, "final")
    assert png.parent.name in str(info.value) and nifti.parent.name in str(info.value)
    assert select_model(results, nifti.parent, None, None, "final") == nifti
    assert select_model(results, None, png, None, "final") == png


def test_arch_picks_its_configuration_and_the_default_network_wins_otherwise(planned: dict, tmp_path: Path) -> None:
    results = tmp_path / "results"
    default = make_model_folder(results, planned["png"])
    tiny = make_model_folder(results, planned["png"], configuration="2d_svanet_tiny")
    dataset_dir = default.parent
    assert select_model(results, dataset_dir, None, None, "final") == default
    assert select_model(results, dataset_dir, None, "svanet_tiny", "final") == tiny
    assert select_model(results, None, dataset_dir, "svanet_tiny", "final") == tiny
    with pytest.raises(SvsegError, match="no trained model for --arch nope") as info:
        select_model(results, dataset_dir, None, "nope", "final")
    assert "SvsegTrainer__svsegPlans__2d_svanet_tiny" in str(info.value)
    with pytest.raises(SvsegError, match="several trained models"):
        select_model(results, None, None, None, "final")  # no -d: the root holds two models
    with pytest.raises(SvsegError, match="model folder not found"):
        select_model(results, None, tmp_path / "missing", None, "final")
    with pytest.raises(SvsegError, match="unknown checkpoint"):
        select_model(results, dataset_dir, None, None, "middle")


def test_checkpoint_choice_and_folds(planned: dict, tmp_path: Path) -> None:
    results = tmp_path / "results"
    folder = make_model_folder(results, planned["png"], folds=("0", "2", "all"), checkpoints=("final", "best"))
    assert resolve_folds(folder, None, "final") == ["0", "2"]  # 'all' only when no CV fold exists
    assert resolve_folds(folder, ["2", "0,2", "all"], "best") == ["2", "0", "all"]
    with pytest.raises(SvsegError, match=r"fold_1/checkpoint_final\.pth: not found; folds with this checkpoint: 0, 2"):
        resolve_folds(folder, ["1"], "final")
    with pytest.raises(SvsegError, match="not a number"):
        resolve_folds(folder, ["x"], "final")
    assert find_trained_models(results, "latest") == []
    with pytest.raises(SvsegError, match="no trained model"):
        select_model(results, None, None, None, "latest")
    only_all = make_model_folder(tmp_path / "other", planned["png"], folds=("all",))
    assert resolve_folds(only_all, None, "final") == ["all"]


def test_load_model_builds_the_network_and_keeps_every_fold(planned: dict, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    folder = make_model_folder(tmp_path / "results", planned["nifti"], folds=("0", "1"))
    with caplog.at_level(logging.WARNING):
        model = load_model(folder, None)
    assert "unpickle" not in caplog.text  # numpy scalars in the log load with weights_only=True
    assert model.folds == ["0", "1"] and len(model.parameters) == 2
    assert model.configuration == "2d" and model.mirroring_axes == (0, 1)
    assert model.channel_names == ["CT"] and model.num_input_channels == 1
    assert not torch.equal(next(iter(model.parameters[0].values())), next(iter(model.parameters[1].values())))


def test_untrusted_objects_load_only_from_inside_the_model_folder(planned: dict, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    folder = make_model_folder(tmp_path / "results", planned["png"])
    checkpoint = torch.load(folder / "fold_0" / "checkpoint_final.pth", weights_only=False)
    checkpoint["extra"] = pathlib.PurePosixPath("an object weights_only refuses")
    inside = folder / "fold_0" / "checkpoint_final.pth"
    torch.save(checkpoint, inside)
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(inside, folder)["extra"] == pathlib.PurePosixPath("an object weights_only refuses")
    assert "trusted" in caplog.text
    outside = tmp_path / "elsewhere.pth"
    torch.save(checkpoint, outside)
    link = folder / "fold_0" / "checkpoint_best.pth"
    link.symlink_to(outside)
    with pytest.raises(SvsegError, match="outside the model folder"):
        load_checkpoint(link, folder)
    (folder / "fold_0" / "checkpoint_latest.pth").write_bytes(b"truncated")
    with pytest.raises(SvsegError, match=r"checkpoint_latest\.pth: checkpoint cannot be read"):
        load_checkpoint(folder / "fold_0" / "checkpoint_latest.pth", folder)
