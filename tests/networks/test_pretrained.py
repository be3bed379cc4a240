"""Tests for svseg/networks/pretrained.py with a torchvision ResNet-50 state dict made at test time."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from svseg.errors import SvsegError
from svseg.networks import create_network
from svseg.networks.blocks.resnet import ResNetEncoder
from svseg.networks.pretrained import adapt_first_conv, load_resnet_weights
from svseg.utils.fs import atomic_torch_save


@pytest.fixture(scope="module")
def resnet50_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torchvision's resnet50 state dict (random weights, same keys and shapes as the ImageNet file)."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "resnet50.pth"
    atomic_torch_save(path, torchvision.models.resnet50(weights=None).state_dict())
    return path


def test_loads_every_encoder_tensor_by_name(resnet50_file: Path) -> None:
    reference = torch.load(resnet50_file, weights_only=True)
    encoder = ResNetEncoder(3)
    load_resnet_weights(encoder, resnet50_file)
    for key, tensor in encoder.state_dict().items():
        assert torch.equal(tensor, reference[key]), key


def test_svanet_pretrained_kwarg_loads_only_the_encoder(resnet50_file: Path) -> None:
    reference = torch.load(resnet50_file, weights_only=True)
    model = create_network("svanet", 1, 2, pretrained=str(resnet50_file))
    torch.testing.assert_close(model.encoder.conv1.weight, reference["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(model.encoder.layer4[2].bn3.running_var, reference["layer4.2.bn3.running_var"])


def test_single_channel_summing_is_exact_for_grey_images() -> None:
    weight = torch.randn(8, 3, 7, 7)
    grey = torch.randn(1, 1, 16, 16)
    rgb_response = torch.nn.functional.conv2d(grey.expand(-1, 3, -1, -1), weight)
    torch.testing.assert_close(torch.nn.functional.conv2d(grey, adapt_first_conv(weight, 1)), rgb_response)
    assert adapt_first_conv(weight, 4).shape == (8, 4, 7, 7)
    torch.testing.assert_close(adapt_first_conv(weight, 6).sum(1), weight.sum(1))


def test_wrapped_and_prefixed_state_dicts_load(resnet50_file: Path, tmp_path: Path) -> None:
    state = torch.load(resnet50_file, weights_only=True)
    wrapped = tmp_path / "wrapped.pth"
    atomic_torch_save(wrapped, {"state_dict": {f"module.{k}": v for k, v in state.items()}})
    encoder = ResNetEncoder(3)
    load_resnet_weights(encoder, wrapped)
    assert torch.equal(encoder.conv1.weight, state["conv1.weight"])


def test_mismatches_are_clear_user_errors(resnet50_file: Path, tmp_path: Path) -> None:
    with pytest.raises(SvsegError, match="shapes differ"):
        load_resnet_weights(ResNetEncoder(3, width=0.5), resnet50_file)
    with pytest.raises(SvsegError, match="unexpected keys"):
        load_resnet_weights(ResNetEncoder(3, depths=(1, 1, 1, 1)), resnet50_file)
    state = torch.load(resnet50_file, weights_only=True)
    del state["layer2.0.conv1.weight"]
    partial = tmp_path / "partial.pth"
    atomic_torch_save(partial, state)
    with pytest.raises(SvsegError, match=r"partial.pth: does not fit.*1 missing keys \(e.g. layer2.0.conv1.weight\)"):
        load_resnet_weights(ResNetEncoder(3), partial)
    with pytest.raises(SvsegError, match="not found"):
        load_resnet_weights(ResNetEncoder(3), tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(SvsegError, match="cannot be read"):
        load_resnet_weights(ResNetEncoder(3), garbage)
    not_tensors = tmp_path / "list.pth"
    atomic_torch_save(not_tensors, [1, 2, 3])
    with pytest.raises(SvsegError, match="not a state dict"):
        load_resnet_weights(ResNetEncoder(3), not_tensors)
