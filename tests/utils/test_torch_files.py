"""svseg's one ``.pth`` reader: weights-only always, hostile pickles refused, nnU-Net's numpy scalars read."""

from __future__ import annotations

import builtins
import io
import os
import pathlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from svseg.errors import SvsegError
from svseg.utils.torch_files import PRETRAINED, conversion_recipe, load_torch_file


class ShellPayload:
    """Unpickling this runs ``touch MARKER`` through os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class BuiltinPayload:
    """Unpickling this writes MARKER through the builtin ``exec`` (no module beyond builtins named)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


def hostile_checkpoint(path: Path, payload: object) -> Path:
    """An nnU-Net-shaped checkpoint with real weights whose pickle also carries `payload`."""
    torch.save({"network_weights": {"w": torch.ones(3)}, "logging": {}, "payload": payload}, path)
    return path


@pytest.mark.parametrize("payload_class", [ShellPayload, BuiltinPayload])
def test_a_hostile_pickle_is_refused_and_never_runs(tmp_path: Path, payload_class: type) -> None:
    marker = tmp_path / "MARKER"
    live = hostile_checkpoint(tmp_path / "live.pth", payload_class(tmp_path / "LIVE"))
    torch.load(live, weights_only=False)  # the payload is real: a full unpickle runs it
    assert (tmp_path / "LIVE").exists()

    path = hostile_checkpoint(tmp_path / "checkpoint_final.pth", payload_class(marker))
    with pytest.raises(SvsegError) as info:
        load_torch_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: refused") and "\n" not in message
    assert "system" in message or "exec" in message  # names what it would have called
    assert conversion_recipe(path) in message
    assert not marker.exists()


def test_the_conversion_recipe_makes_a_trusted_file_readable(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint_final.pth"
    weights = {"conv.weight": torch.arange(6.0).reshape(2, 3)}
    torch.save({"network_weights": weights, "note": pathlib.PurePosixPath("not a tensor")}, path)
    with pytest.raises(SvsegError, match="refused"):
        load_torch_file(path)
    exec(conversion_recipe(path), {})  # what the user runs, word for word, in a Python they trust
    loaded = load_torch_file(path)
    assert set(loaded) == {"network_weights"}
    assert torch.equal(loaded["network_weights"]["conv.weight"], weights["conv.weight"])


def test_the_encoder_file_recipe_keeps_its_state_dict(tmp_path: Path) -> None:
    """Published encoder files often wrap the state dict with training arguments (an argparse Namespace)."""
    import argparse

    path = tmp_path / "resnet.pth"
    state = {"conv1.weight": torch.ones(2, 3, 1, 1)}
    torch.save({"state_dict": state, "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(SvsegError, match=r"refused: this pretrained weights file .*argparse\.Namespace") as info:
        load_torch_file(path, what=PRETRAINED)
    assert conversion_recipe(path, PRETRAINED) in str(info.value)
    exec(conversion_recipe(path, PRETRAINED), {})
    assert torch.equal(load_torch_file(path, what=PRETRAINED)["conv1.weight"], state["conv1.weight"])


def _nnunet_style_checkpoint() -> dict:
    """The parts of nnU-Net 2.x's checkpoint dict that hold numpy scalars (its logger and best EMA)."""
    return {
        "network_weights": {"w": torch.ones(2)},
        "logging": {"mean_fg_dice": [np.float64(0.25), np.float64(0.5)], "ema_fg_dice": [np.float32(0.125)],
                    "dice_per_class_or_region": [[np.float64(0.75)]], "epoch_start_timestamps": [1.5]},
        "_best_ema": np.float64(0.5),
        "current_epoch": np.int64(2),
        "init_args": {"configuration": "2d", "fold": 0, "device": torch.device("cpu")},
        "inference_allowed_mirroring_axes": (0, 1),
    }


def test_nnunet_checkpoints_with_numpy_scalars_load(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint_final.pth"
    torch.save(_nnunet_style_checkpoint(), path)
    loaded = load_torch_file(path)
    assert loaded["logging"]["mean_fg_dice"] == [0.25, 0.5] and loaded["_best_ema"] == 0.5
    assert loaded["logging"]["ema_fg_dice"][0].dtype == np.float32 and loaded["current_epoch"] == 2
    assert loaded["init_args"]["device"] == torch.device("cpu")


def test_checkpoints_pickled_under_numpy_1_load(tmp_path: Path) -> None:
    """numpy 1.x pickles name the scalar reconstructor ``numpy.core.multiarray.scalar``."""
    buffer = io.BytesIO()
    torch.save(_nnunet_style_checkpoint(), buffer, _use_new_zipfile_serialization=False)  # plain pickle stream
    data = buffer.getvalue()
    assert b"numpy._core.multiarray\nscalar" in data
    path = tmp_path / "old.pth"
    path.write_bytes(data.replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar"))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # torch's default allow-list refuses this name
    assert load_torch_file(path)["logging"]["mean_fg_dice"] == [0.25, 0.5]


@pytest.mark.parametrize("problem", ["empty", "folder", "truncated", "garbage", "missing"])
def test_broken_files_are_one_line_naming_the_file(tmp_path: Path, problem: str) -> None:
    path = tmp_path / "checkpoint_final.pth"
    if problem == "empty":
        path.write_bytes(b"")
    elif problem == "folder":
        path.mkdir()
    elif problem == "truncated":
        buffer = io.BytesIO()
        torch.save({"network_weights": {"w": torch.zeros(10000)}}, buffer)
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    elif problem == "garbage":
        path.write_bytes(b"not a checkpoint at all " * 20)
    with pytest.raises(SvsegError) as info:
        load_torch_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    expected = {"empty": "empty file", "folder": "is a folder", "truncated": "cannot be read",
                "garbage": "cannot be read", "missing": "not found"}[problem]
    assert expected in message
