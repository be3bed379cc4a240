"""LSNet: registry and plans, eval-mode inference, gradients through the recalibration, cost counting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from svseg.errors import SvsegError
from svseg.networks import architecture_block, check_architecture_block, count_macs, count_parameters, create_network
from svseg.networks.lsnet import LSNet, lnet_targets
from svseg.training.network_from_plans import build_network_from_architecture

CENTRES = ((15, 15), (40, 45))  # (x, y) pixel indices of two objects on a 64 x 64 slice


def _slice_with_two_disks(radius: float = 3) -> torch.Tensor:
    yy, xx = np.mgrid[:64, :64]
    image = np.zeros((64, 64), np.float32)
    for x, y in CENTRES:
        image[(yy - y) ** 2 + (xx - x) ** 2 <= radius**2] = 1
    return torch.from_numpy(image)[None, None]


class FixedLNet(nn.Module):
    """Heatmap peaks (3 x 3) at the given keypoints, distances of 4 px everywhere."""

    def __init__(self, centres: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.centres = centres

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        heat = torch.full((x.shape[0], 1, *x.shape[2:]), -10.0)
        for cx, cy in self.centres:
            heat[:, :, cy - 1 : cy + 2, cx - 1 : cx + 2] = 10.0
        return heat, torch.full((x.shape[0], 4, *x.shape[2:]), 4.0)


def _threshold_snet() -> nn.Module:
    """Foreground logit 20 * (x - 0.5), background 0: segments the bright disks."""
    snet = nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        snet.weight.copy_(torch.tensor([0.0, 20.0]).reshape(2, 1, 1, 1))
        snet.bias.copy_(torch.tensor([0.0, -10.0]))
    return snet


def test_recipe_writes_plain_json_plans_that_nnunet_builds_identically() -> None:
    block = architecture_block("lsnet_tiny", [64, 64], [1.0, 1.0], 1, 2)
    check_architecture_block(block)
    assert block["network_class_name"] == "svseg.networks.lsnet.model.LSNet"
    kwargs = block["arch_kwargs"]
    assert kwargs["roi_size"] == 32 and kwargs["margin"] == 15 and kwargs["decay"] == 0.5 and kwargs["top_k"] == 3
    assert kwargs["lnet"]["features_per_stage"][0] == 8  # a quarter of the U-Net's 32
    assert kwargs["snet"] == "unet" and kwargs["snet_kwargs"]["patch_size"] == [32, 32]
    from_plans = build_network_from_architecture(block, 1, 2, deep_supervision=False)
    direct = create_network("lsnet_tiny", 1, 2, patch_size=[64, 64])
    assert count_parameters(from_plans) == count_parameters(direct)
    full = architecture_block("lsnet", [256, 256], [1.0, 1.0], 1, 2)["arch_kwargs"]
    assert full["lnet"]["features_per_stage"][0] == 32 and full["roi_size"] == 64


@pytest.mark.parametrize("bad", [{"roi_size": 48}, {"snet": "lsnet"}, {"no_such_option": 1}])
def test_recipe_refuses_bad_options(bad: dict) -> None:
    with pytest.raises(SvsegError):
        create_network("lsnet_tiny", 1, 2, patch_size=[64, 64], **bad)


def test_nnunet_contract() -> None:
    network = create_network("lsnet_tiny", 1, 2, patch_size=[64, 64])
    assert LSNet.supports_deep_supervision is False and network.decoder.deep_supervision is False
    with pytest.raises(SvsegError, match="deep-supervision"):
        create_network("lsnet_tiny", 1, 2, deep_supervision=True, patch_size=[64, 64])


def test_inference_finds_both_objects_and_pastes_their_masks_back() -> None:
    network = create_network("lsnet_tiny", 1, 2, patch_size=[64, 64]).eval()
    network.lnet = FixedLNet(CENTRES)
    network.snet = _threshold_snet()
    image = _slice_with_two_disks()
    logits = network(image)
    assert logits.shape == (1, 2, 64, 64)
    predicted = logits.argmax(1)[0]
    truth = image[0, 0] > 0.5
    assert (predicted.bool() == truth).float().mean() > 0.995
    for x, y in CENTRES:  # each object is found
        assert predicted[y, x] == 1
    # RoIs reach 4 + 15 px from each keypoint; further out nothing is segmented and the logit is background
    assert torch.allclose(logits[0, :, 0, 63].exp(), torch.tensor([1 - 1e-4, 1e-4]))


def test_a_slice_without_keypoints_gets_an_empty_mask() -> None:
    network = create_network("lsnet_tiny", 1, 2, patch_size=[64, 64]).eval()
    network.lnet = FixedLNet(())
    logits = network(_slice_with_two_disks())
    assert (logits.argmax(1) == 0).all()
    assert torch.allclose(logits.exp().sum(1), torch.ones(1, 64, 64))


def _joint_box_gradient(network: LSNet, decay: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    network.decay = decay
    network.zero_grad(set_to_none=True)
    image = _slice_with_two_disks()
    labels = (image > 0.5).long()
    targets = lnet_targets(labels, 2, network.sigma, network.positive_threshold)
    torch.manual_seed(3)  # the top-3 keypoint draw
    output = network(torch.cat([image, image]) + 0.1, targets.objects)
    assert len(output.rois) == 2 and output.roi_logits.shape == (2, 2, 32, 32)
    output.roi_logits.float().pow(2).mean().backward()
    return network.lnet.box_head.convs[-1].weight.grad.clone(), network.lnet.keypoint_head.out.weight.grad


def test_snet_loss_reaches_lnet_through_the_recalibration_times_the_decay() -> None:
    network = create_network("lsnet_tiny", 1, 2, patch_size=[64, 64]).train()
    full, keypoint_grad = _joint_box_gradient(network, 1.0)
    assert full.abs().sum() > 0  # S-Net's loss moved L-Net's box head through grid_sample
    assert keypoint_grad is None  # the discrete keypoint choice carries no gradient
    half, _ = _joint_box_gradient(network, 0.5)
    assert torch.allclose(half, 0.5 * full, rtol=1e-4, atol=1e-12)
    none, _ = _joint_box_gradient(network, 0.0)
    assert none.abs().sum() == 0


def test_training_forward_without_objects_returns_lnet_outputs() -> None:
    network = create_network("lsnet_tiny", 2, 3, patch_size=[64, 64]).train()
    heatmap, distances = network(torch.randn(2, 2, 64, 64))
    assert heatmap.shape == (2, 2, 64, 64) and distances.shape == (2, 4, 64, 64) and (distances > 0).all()


def test_cost_is_counted_on_the_meta_device_as_lnet_plus_one_roi() -> None:
    with torch.device("meta"):
        network = create_network("lsnet_tiny", 1, 2, patch_size=[64, 64])
    total = count_macs(network, (1, 1, 64, 64))
    lnet = count_macs(network.lnet, (1, 1, 64, 64))
    snet = count_macs(network.snet, (1, 1, 32, 32))
    assert total == lnet + snet > 0


def test_svanet_as_snet() -> None:
    network = create_network("lsnet_tiny", 1, 2, patch_size=[64, 64], snet="svanet_tiny").eval()
    network.lnet = FixedLNet(CENTRES[:1])
    assert network(_slice_with_two_disks()).shape == (1, 2, 64, 64)


def test_joint_forward_on_slices_without_objects_or_alarms_has_no_rois() -> None:
    network = create_network("lsnet_tiny", 1, 2, patch_size=[64, 64]).train()
    targets = lnet_targets(torch.zeros(2, 1, 64, 64, dtype=torch.long), 2, network.sigma, network.positive_threshold)
    output = network(torch.randn(2, 1, 64, 64), targets.objects)  # untrained heatmap: p = 0.01 < 0.5 everywhere
    assert len(output.rois) == 0 and output.roi_logits is None and output.theta.shape == (0, 2, 3)
