"""Encoder parameter groups, freezing by a zero rate, pretrained loading, optimizers from the recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet
from torch import nn

from svseg.errors import SvsegError
from svseg.planning.plans import Recipe
from svseg.training.encoder import find_encoder, frozen_until_epoch, load_pretrained_encoder, parameter_groups
from svseg.training.optimizers import build_optimizer, build_optimizer_and_schedule


def small_unet() -> PlainConvUNet:
    return PlainConvUNet(1, 3, (4, 8, 16), nn.Conv2d, 3, (1, 2, 2), 2, 2, (2, 2), conv_bias=True,
                         norm_op=nn.InstanceNorm2d, norm_op_kwargs={"affine": True}, nonlin=nn.LeakyReLU,
                         deep_supervision=False)


def test_groups_split_encoder_from_the_rest() -> None:
    network = small_unet()
    groups, encoder_group = parameter_groups(network)
    assert encoder_group == 0 and len(groups) == 2
    encoder_ids = {id(p) for p in network.encoder.parameters()}
    assert {id(p) for p in groups[0]["params"]} == encoder_ids
    assert not encoder_ids & {id(p) for p in groups[1]["params"]}
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(network.parameters()))


def test_network_without_encoder_has_one_group() -> None:
    groups, encoder_group = parameter_groups(nn.Sequential(nn.Conv2d(1, 2, 3)))
    assert encoder_group is None and len(groups) == 1


def test_freezing_needs_pretrained_weights() -> None:
    recipe = Recipe(freeze_encoder_fraction=0.1)
    assert frozen_until_epoch(recipe, 100, pretrained_encoder=True) == 10  # ceil(0.1 * 100), official milestone
    assert frozen_until_epoch(recipe, 15, pretrained_encoder=True) == 2
    assert frozen_until_epoch(recipe, 100, pretrained_encoder=False) == 0
    assert frozen_until_epoch(Recipe(freeze_encoder_fraction=0.0), 100, pretrained_encoder=True) == 0


@pytest.mark.parametrize("optimizer_name", ["adamw", "sgd"])
def test_frozen_encoder_does_not_move_while_decoder_trains(optimizer_name: str) -> None:
    torch.manual_seed(0)
    network = small_unet()
    recipe = Recipe(optimizer=optimizer_name, lr=1e-2, weight_decay=0.03, lr_schedule="constant", epochs=4)
    optimizer, schedule = build_optimizer_and_schedule(network, recipe, 4, frozen_until=1)
    encoder_before = [p.detach().clone() for p in network.encoder.parameters()]
    rest_before = [p.detach().clone() for p in network.decoder.seg_layers.parameters()]
    for epoch in range(2):
        schedule.step(epoch)
        for _ in range(2):
            optimizer.zero_grad()
            network(torch.randn(2, 1, 16, 16)).square().mean().backward()
            optimizer.step()
        if epoch == 0:
            assert all(torch.equal(a, b) for a, b in zip(encoder_before, network.encoder.parameters(), strict=True))
            assert not all(torch.equal(a, b) for a, b in
                           zip(rest_before, network.decoder.seg_layers.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(encoder_before, network.encoder.parameters(), strict=True))


def test_optimizer_settings_come_from_the_recipe() -> None:
    adamw, _ = build_optimizer(small_unet(), Recipe(optimizer="adamw", lr=5e-4, weight_decay=0.03, betas=(0.8, 0.9)))
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.param_groups[0]["betas"] == (0.8, 0.9) and adamw.param_groups[0]["weight_decay"] == 0.03
    sgd, _ = build_optimizer(small_unet(), Recipe(optimizer="sgd", lr=1e-2, momentum=0.9, nesterov=False))
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.param_groups[0]["momentum"] == 0.9 and sgd.param_groups[0]["nesterov"] is False


def test_pretrained_encoder_from_a_checkpoint(tmp_path: Path) -> None:
    source, target = small_unet(), small_unet()
    torch.save({"network_weights": source.state_dict(), "current_epoch": 3}, tmp_path / "model.pth")
    decoder_before = [p.detach().clone() for p in target.decoder.seg_layers.parameters()]
    load_pretrained_encoder(target, tmp_path / "model.pth")
    for name, tensor in source.encoder.state_dict().items():
        assert torch.equal(tensor, target.encoder.state_dict()[name])
    assert all(torch.equal(a, b) for a, b in zip(decoder_before, target.decoder.seg_layers.parameters(), strict=True))


def test_pretrained_errors_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(SvsegError, match="not found"):
        load_pretrained_encoder(small_unet(), tmp_path / "missing.pth")
    torch.save({"network_weights": {"encoder.nothing.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(SvsegError, match="no encoder tensor"):
        load_pretrained_encoder(small_unet(), tmp_path / "other.pth")
    with pytest.raises(SvsegError, match="no 'encoder'"):
        load_pretrained_encoder(nn.Sequential(nn.Conv2d(1, 2, 3)), tmp_path / "other.pth")
    assert find_encoder(nn.Sequential()) is None


def test_train_pretrained_uses_the_network_family_loader(tmp_path: Path) -> None:
    """`svseg train --pretrained` on M2SNet reads the Res2Net key format and adapts RGB to one channel."""
    from svseg.networks import create_network

    source = create_network("m2snet", 3, 2, encoder="res2net50", res2net_depths=(1, 1, 1, 1))
    path = tmp_path / "res2net50_v1b_26w_4s.pth"
    torch.save(source.encoder.state_dict(), path)
    target = create_network("m2snet", 1, 2, encoder="res2net50", res2net_depths=(1, 1, 1, 1))
    load_pretrained_encoder(target, path)
    rgb = next(iter(source.encoder.state_dict().values()))
    grey = next(iter(target.encoder.state_dict().values()))
    assert rgb.shape[1] == 3 and grey.shape[1] == 1
    torch.testing.assert_close(grey, rgb.sum(dim=1, keepdim=True))
