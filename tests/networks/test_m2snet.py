"""M2SNet: shapes, the released model's parameter count, fixed-kernel buffers, plans round trip, weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

from svseg.errors import SvsegError
from svseg.networks import (
    M2SNet,
    architecture_block,
    count_parameters,
    create_network,
    network_supports_deep_supervision,
)
from svseg.networks.blocks.res2net import Res2NetEncoder
from svseg.networks.blocks.subtraction import FixedOnesConv, MultiScaleSubtraction

RELEASED_PARAMETERS = 27_692_585  # peer-networks.md §1.1: the released M2SNet, 3 channels, 1 class
RES2NET50_PARAMETERS = 23_669_352  # its backbone without the classifier
FIXED_KERNEL_VALUES = 64 * 64 * (9 + 25)


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("classes", [2, 5])
def test_tiny_shapes(channels: int, classes: int) -> None:
    net = create_network("m2snet_tiny", channels, classes)
    out = net(torch.randn(2, channels, 64, 96))
    assert out.shape == (2, classes, 64, 96) and torch.isfinite(out).all()


def test_res2net_encoder_shapes_and_taps() -> None:
    net = M2SNet(3, 2, encoder="res2net50", res2net_depths=(1, 1, 1, 1)).eval()
    taps = net.encoder(torch.randn(1, 3, 64, 64))
    assert [tuple(t.shape[1:]) for t in taps] == [(64, 16, 16), (256, 16, 16), (512, 8, 8), (1024, 4, 4),
                                                  (2048, 2, 2)]
    assert net(torch.randn(1, 3, 64, 64)).shape == (1, 2, 64, 64)


def test_plain_encoder_taps_sit_at_strides_2_to_32() -> None:
    net = create_network("m2snet", 1, 2)
    taps = net.encoder(torch.randn(1, 1, 64, 64))
    assert [tuple(t.shape[1:]) for t in taps] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    assert isinstance(net.decoder.squeeze[0], torch.nn.Identity)  # 64-channel f1 used raw, as in the paper


def test_parameter_count_equals_the_released_model() -> None:
    with torch.device("meta"):
        net = create_network("m2snet", 3, 1, encoder="res2net50")
    assert count_parameters(net) == RELEASED_PARAMETERS
    assert count_parameters(net.encoder) == RES2NET50_PARAMETERS
    # MSNet (no F3/F5) would be the same minus the two shared BatchNorms: 27,692,329
    assert count_parameters(net) - count_parameters(net.decoder.f3) - count_parameters(net.decoder.f5) == 27_692_329


def test_ten_subtraction_units_share_one_f3_and_one_f5() -> None:
    with torch.device("meta"):
        net = create_network("m2snet", 3, 1, encoder="res2net50")
    units = [m for m in net.modules() if isinstance(m, MultiScaleSubtraction)]
    assert len(units) == 10
    assert all(u._shared == (net.decoder.f3, net.decoder.f5) for u in units)
    assert len([m for m in net.modules() if isinstance(m, FixedOnesConv)]) == 2


def test_fixed_kernels_are_buffers_that_move_with_the_network() -> None:
    net = create_network("m2snet_tiny", 1, 2)
    state = net.state_dict()
    assert state["decoder.f3.weight"].shape == (16, 16, 3, 3) and state["decoder.f5.weight"].shape == (16, 16, 5, 5)
    parameter_ids = {id(p) for p in net.parameters()}
    assert id(net.decoder.f3.weight) not in parameter_ids and id(net.decoder.f5.weight) not in parameter_ids
    net.to(torch.float64)
    assert net.decoder.f5.weight.dtype == torch.float64
    assert net(torch.randn(1, 1, 64, 64, dtype=torch.float64)).dtype == torch.float64
    net.to("meta")
    assert net.decoder.f3.weight.is_meta and net.decoder.f5.weight.is_meta
    with torch.device("meta"):
        big = create_network("m2snet", 3, 1, encoder="res2net50")
    assert big.decoder.f3.weight.numel() + big.decoder.f5.weight.numel() == FIXED_KERNEL_VALUES


def test_box_sum_rewrite_equals_dense_fixed_kernels() -> None:
    fast = create_network("m2snet_tiny", 1, 3).double().eval()
    dense = create_network("m2snet_tiny", 1, 3, dense_fixed_kernels=True).double().eval()
    dense.load_state_dict(fast.state_dict())
    x = torch.randn(1, 1, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), dense(x), rtol=1e-9, atol=1e-9)


def test_patch_and_input_sides_must_be_multiples_of_32() -> None:
    for patch in ([48, 64], [64, 64, 64], [0, 64]):
        with pytest.raises(SvsegError, match="positive multiples of 32"):
            architecture_block("m2snet", patch, [1.0] * len(patch), 1, 2)
    with pytest.raises(SvsegError, match="at least 64"):  # InstanceNorm needs > 1 pixel at stride 32
        architecture_block("m2snet", [32, 64], [1.0, 1.0], 1, 2)
    assert architecture_block("m2snet", [32, 64], [1.0, 1.0], 1, 2, encoder_norm="batch")["arch_kwargs"]
    net = create_network("m2snet_tiny", 1, 2)
    with pytest.raises(SvsegError, match="multiples of 32"):
        net(torch.zeros(1, 1, 48, 64))


def test_bad_options_are_user_errors() -> None:
    with pytest.raises(SvsegError, match="no option"):
        create_network("m2snet", 1, 2, widht=0.5)
    with pytest.raises(SvsegError, match="encoder="):
        create_network("m2snet", 1, 2, encoder="resnet50")
    with pytest.raises(SvsegError, match="deep-supervision"):
        M2SNet(1, 2, deep_supervision=True)
    assert not network_supports_deep_supervision("m2snet") and not network_supports_deep_supervision("m2snet_tiny")


def test_nnunet_builds_it_from_the_architecture_block() -> None:
    block = architecture_block("m2snet_tiny", [64, 64], [1.0, 1.0], 1, 3)
    assert block["network_class_name"] == "svseg.networks.m2snet.M2SNet"
    net = get_network_from_plans(block["network_class_name"], block["arch_kwargs"], block["_kw_requires_import"],
                                 1, 3, allow_init=True, deep_supervision=False)
    reference = create_network("m2snet_tiny", 1, 3)
    assert isinstance(net, M2SNet) and net.state_dict().keys() == reference.state_dict().keys()
    assert count_parameters(net) == count_parameters(reference)
    net.decoder.deep_supervision = True  # what nnU-Net's trainer may set; there is still one output
    assert net(torch.zeros(1, 1, 64, 64)).shape == (1, 3, 64, 64)


def test_pretrained_res2net_weights_load_from_a_local_file(tmp_path: Path) -> None:
    source = Res2NetEncoder(3)
    with torch.no_grad():
        source.bn1.weight.fill_(0.25)
    path = tmp_path / "res2net50_v1b_26w_4s.pth"
    torch.save({**source.state_dict(), "fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}, path)
    grey = create_network("m2snet", 1, 2, encoder="res2net50", pretrained=path)
    torch.testing.assert_close(grey.encoder.conv1[0].weight, source.conv1[0].weight.sum(dim=1, keepdim=True))
    assert torch.equal(grey.encoder.bn1.weight, torch.full((64,), 0.25))
    bad = tmp_path / "other.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, bad)
    with pytest.raises(SvsegError, match=r"other\.pth.*does not fit the Res2Net-50"):
        create_network("m2snet", 3, 2, encoder="res2net50", pretrained=bad)
    with pytest.raises(SvsegError, match="encoder='res2net50'"):
        create_network("m2snet", 3, 2, pretrained=path)


@pytest.mark.parametrize("first", [True, False])
def test_bottle2neck_runs_the_hierarchical_split_chain(first: bool) -> None:
    from torch.nn import functional as F

    from svseg.networks.blocks.res2net import Bottle2neck

    block = Bottle2neck(64, 16, stride=2 if first else 1, first=first).double().eval()
    assert block.width == 6 and len(block.convs) == 3  # floor(16 * 26 / 64), scale 4
    x = torch.randn(1, 64, 8, 8, dtype=torch.float64)

    def bn(module: torch.nn.BatchNorm2d, t: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(t, module.running_mean, module.running_var, module.weight, module.bias, False, 0.0,
                            module.eps)

    stride = 2 if first else 1
    reduced = F.relu(bn(block.bn1, F.conv2d(x, block.conv1.weight)))
    groups = [reduced[:, 6 * i : 6 * (i + 1)] for i in range(4)]
    outs = []
    for i in range(3):
        inp = groups[i] if first or i == 0 else groups[i] + outs[-1]
        outs.append(F.relu(bn(block.bns[i], F.conv2d(inp, block.convs[i].weight, stride=stride, padding=1))))
    outs.append(F.avg_pool2d(groups[3], 3, stride, 1) if first else groups[3])
    main = bn(block.bn3, F.conv2d(torch.cat(outs, 1), block.conv3.weight))
    if first:  # v1b shortcut: average pooling, then a 1x1 conv + BN
        pooled = F.avg_pool2d(x, stride, stride, ceil_mode=True, count_include_pad=False)
        shortcut = bn(block.downsample[2], F.conv2d(pooled, block.downsample[1].weight))
    else:
        assert block.downsample is None
        shortcut = x
    with torch.no_grad():
        torch.testing.assert_close(block(x), F.relu(main + shortcut))
