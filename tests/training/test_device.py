"""Device choice and worker counts."""

from __future__ import annotations

import os

import pytest
import torch

from svseg.errors import SvsegError
from svseg.training.device import augmentation_workers, configure_compile, configure_workers, resolve_device


def test_auto_picks_an_existing_device() -> None:
    device = resolve_device("auto")
    expected = "cuda" if torch.cuda.is_available() else device.type
    assert device.type == expected and resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_user_error() -> None:
    with pytest.raises(SvsegError, match="--device cpu"):
        resolve_device("cuda")


def test_unknown_device_is_a_user_error() -> None:
    with pytest.raises(SvsegError, match="unknown device"):
        resolve_device("tpu")


@pytest.fixture(autouse=True)
def restore_nnunet_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The functions under test set os.environ directly; record the variables so they are restored."""
    for variable in ("nnUNet_n_proc_DA", "nnUNet_def_n_proc", "nnUNet_compile"):
        monkeypatch.setenv(variable, "recorded")
        monkeypatch.delenv(variable)


def test_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert augmentation_workers(torch.device("cpu")) == 0
    assert 1 <= augmentation_workers(torch.device("cuda"), num_gpus=1) <= 12
    assert configure_workers(torch.device("cpu")) == 0 and os.environ["nnUNet_n_proc_DA"] == "0"
    assert configure_workers(torch.device("cpu"), num_workers=3) == 3
    monkeypatch.setenv("nnUNet_n_proc_DA", "5")
    assert configure_workers(torch.device("cpu")) == 5  # the user's own setting wins over the default
    with pytest.raises(SvsegError):
        configure_workers(torch.device("cpu"), num_workers=-1)


def test_compile_switch() -> None:
    configure_compile(None)
    assert "nnUNet_compile" not in os.environ
    configure_compile(False)
    assert os.environ["nnUNet_compile"] == "f"
    configure_compile(True)
    assert os.environ["nnUNet_compile"] == "t"
