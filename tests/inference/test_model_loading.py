"""Choosing the model folder and folds, and loading checkpoints without unsafe unpickling."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import torch

from svseg.errors import SvsegError
from svseg.inference.model_loading import (
    find_trained_models,
    load_checkpoint,
    load_model,
    model_arch,
    resolve_folds,
    select_model,
)
from svseg.utils.torch_files import load_torch_file

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


def test_arch_names_the_network_the_plans_say_the_folder_holds(planned: dict, tmp_path: Path) -> None:
    results = tmp_path / "results"
    default = make_model_folder(results, planned["png"])  # svseg section: configuration 2d, network unet
    tiny = make_model_folder(results, planned["png"], configuration="2d_svanet_tiny")
    dataset_dir = default.parent
    assert (model_arch(default), model_arch(tiny)) == ("unet", "svanet_tiny")
    assert select_model(results, dataset_dir, None, "unet", "final") == default  # the plan's own network by name
    assert select_model(results, dataset_dir, None, "svanet_tiny", "final") == tiny
    assert select_model(results, None, dataset_dir, "svanet_tiny", "final") == tiny
    assert select_model(results, None, tiny, "svanet_tiny", "final") == tiny
    with pytest.raises(SvsegError, match="not found"):
        select_model(results, None, tmp_path / "missing", None, "final")
    with pytest.raises(SvsegError, match="unknown checkpoint"):
        select_model(results, dataset_dir, None, None, "middle")


def test_several_models_and_no_arch_list_every_choice_in_one_line(planned: dict, tmp_path: Path) -> None:
    results = tmp_path / "results"
    default = make_model_folder(results, planned["png"])
    make_model_folder(results, planned["png"], configuration="2d_svanet_tiny")
    with pytest.raises(SvsegError) as info:
        select_model(results, default.parent, None, None, "final")
    message = str(info.value)
    assert "\n" not in message and message.startswith("several trained models in Dataset951_Png: ")
    assert "--arch unet (Dataset951_Png/SvsegTrainer__svsegPlans__2d)" in message
    assert "--arch svanet_tiny (Dataset951_Png/SvsegTrainer__svsegPlans__2d_svanet_tiny)" in message
    assert message.endswith("choose one with --arch")


def test_unknown_untrained_or_contradicting_arch_is_one_line(planned: dict, tmp_path: Path) -> None:
    results = tmp_path / "results"
    default = make_model_folder(results, planned["png"])
    tiny = make_model_folder(results, planned["png"], configuration="2d_svanet_tiny")
    with pytest.raises(SvsegError, match=r"^unknown architecture 'nope' \(--arch\); registered: .*svanet_tiny"):
        select_model(results, default.parent, None, "nope", "final")
    with pytest.raises(SvsegError, match="no trained model for --arch m2snet in Dataset951_Png") as info:
        select_model(results, default.parent, None, "m2snet", "final")
    assert "--arch svanet_tiny (Dataset951_Png/SvsegTrainer__svsegPlans__2d_svanet_tiny)" in str(info.value)
    with pytest.raises(SvsegError, match=r"2d_svanet_tiny: holds --arch svanet_tiny, not --arch unet"):
        select_model(results, None, tiny, "unet", "final")


def test_a_plain_nnunet_model_has_no_arch_name_and_is_chosen_with_m(planned: dict, tmp_path: Path) -> None:
    results = tmp_path / "results"
    svseg_model = make_model_folder(results, planned["png"])
    plain = make_model_folder(results, planned["png"], trainer="nnUNetTrainer")
    plans = json.loads((plain / "plans.json").read_text(encoding="utf-8"))
    del plans["svseg"]
    (plain / "plans.json").write_text(json.dumps(plans), encoding="utf-8")
    assert model_arch(plain) is None
    assert select_model(results, plain.parent, None, "unet", "final") == svseg_model
    with pytest.raises(SvsegError, match=rf"-m {plain} \(no registered network\)"):
        select_model(results, plain.parent, None, None, "final")
    with pytest.raises(SvsegError, match="holds no registered network"):
        select_model(results, None, plain, "unet", "final")
    assert select_model(results, None, plain, None, "final") == plain


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


class _Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize("checkpoint", ["final", "best", "latest"])
def test_a_hostile_checkpoint_in_the_model_folder_is_refused(planned: dict, tmp_path: Path, checkpoint: str) -> None:
    folder = make_model_folder(tmp_path / "results", planned["png"], checkpoints=(checkpoint,))
    path = folder / "fold_0" / f"checkpoint_{checkpoint}.pth"
    saved = load_torch_file(path)  # the fixture's log holds numpy scalars, as nnU-Net's does
    torch.save({**saved, "extra": _Payload(tmp_path / "MARKER")}, path)  # inside the folder the user chose
    with pytest.raises(SvsegError, match=rf"^{path}: refused: .*weights_only=False") as info:
        load_model(folder, None, checkpoint)
    assert "\n" not in str(info.value) and not (tmp_path / "MARKER").exists()
    with pytest.raises(SvsegError, match="refused"):
        load_checkpoint(path)


@pytest.mark.parametrize("problem", ["truncated", "empty", "folder", "misfit", "mirror_axes"])
def test_a_broken_checkpoint_is_one_line_naming_it(planned: dict, tmp_path: Path, problem: str) -> None:
    folder = make_model_folder(tmp_path / "results", planned["png"], folds=("0", "1"))
    path = folder / "fold_1" / "checkpoint_final.pth"  # the second fold: every fold is checked
    saved = load_torch_file(path)  # the fixture's log holds numpy scalars, as nnU-Net's does
    path.unlink()
    if problem == "truncated":
        torch.save(saved, tmp_path / "whole.pth")
        path.write_bytes((tmp_path / "whole.pth").read_bytes()[:2000])
    elif problem == "empty":
        path.write_bytes(b"")
    elif problem == "folder":
        path.mkdir()
    elif problem == "misfit":
        weights = saved["network_weights"]
        first = next(iter(weights))
        torch.save({**saved, "network_weights": {**weights, first: torch.zeros(3, 3)}}, path)
    else:
        torch.save({**saved, "inference_allowed_mirroring_axes": ["x"]}, path)
        (folder / "fold_0" / "checkpoint_final.pth").unlink()
    with pytest.raises(SvsegError) as info:
        load_model(folder, None)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    expected = {"truncated": "cannot be read", "empty": "empty file", "folder": "is a folder",
                "misfit": "does not fit the network in", "mirror_axes": "not a list of axes"}[problem]
    assert expected in message
