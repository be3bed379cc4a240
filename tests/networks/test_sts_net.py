"""Tests for svseg/networks/sts_net.py: counts, the dilated ResNeXt against torchvision, shapes, options, plans.

Reference numbers come from docs/design/peer-networks.md §2.1 (computed from the released code's
layer shapes). The encoder is checked against torchvision's resnext50_32x4d dilated the way smp's
`make_dilated` does it, an independent implementation with the same state-dict keys.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from torch import nn
from torch.nn import functional as F

from svseg.errors import SvsegError
from svseg.networks import STSNet, architecture_block, count_parameters, create_network

PAPER_PARAMS = 39_105_873  # 3 channels, 2 classes
BREAKDOWN = {"encoder": 22_979_904, "esca": 15, "aspp": 15_535_104, "post_conv": 590_336, "head": 514}


def meta_sts_net(**kwargs: object) -> STSNet:
    with torch.device("meta"):
        return create_network("sts_net", 3, 2, **kwargs)


def dilated_torchvision_resnext() -> nn.Module:
    """torchvision's resnext50_32x4d with smp's make_dilated: layer3 (rate 2) and layer4 (rate 4) lose their stride."""
    model = torchvision.models.resnext50_32x4d(weights=None)
    for layer, rate in ((model.layer3, 2), (model.layer4, 4)):
        for module in layer.modules():
            if isinstance(module, nn.Conv2d):
                module.stride = (1, 1)
                module.dilation = (rate, rate)
                module.padding = (module.kernel_size[0] // 2 * rate,) * 2
    return model


@pytest.fixture(scope="module")
def resnext_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torchvision resnext50_32x4d state dict (random weights, fc included) written like the real file."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "resnext50_32x4d.pth"
    torch.save(torchvision.models.resnext50_32x4d(weights=None).state_dict(), path)
    return path


def test_paper_parameter_count_is_exact() -> None:
    assert count_parameters(meta_sts_net()) == PAPER_PARAMS


def test_component_counts_match_the_design_breakdown() -> None:
    model = meta_sts_net()
    counts = {
        "encoder": count_parameters(model.encoder),
        "esca": count_parameters(model.esca),
        "aspp": count_parameters(model.decoder.aspp),
        "post_conv": count_parameters(model.decoder.conv),
        "head": count_parameters(model.head),
    }
    assert counts == BREAKDOWN
    assert count_parameters(meta_sts_net(esca=False)) == PAPER_PARAMS - 15
    assert count_parameters(meta_sts_net(norm="instance")) == PAPER_PARAMS  # affine norms keep the count


def test_encoder_equals_dilated_torchvision_resnext(resnext_file: Path) -> None:
    reference = dilated_torchvision_resnext().eval()
    reference.load_state_dict(torch.load(resnext_file, weights_only=True))
    network = create_network("sts_net", 3, 2, pretrained=str(resnext_file)).eval()
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        e1, e2, e3, e4, e5 = network.encoder(x)  # no gates: the bare encoder
        stem = reference.relu(reference.bn1(reference.conv1(x)))
        torch.testing.assert_close(e1, stem)
        torch.testing.assert_close(e3, reference.layer2(reference.layer1(reference.maxpool(stem))))
        torch.testing.assert_close(e5, reference.layer4(reference.layer3(e3)), rtol=1e-4, atol=1e-4)
    assert [e.shape[1:] for e in (e1, e2, e3, e4, e5)] == [
        (64, 24, 32), (256, 12, 16), (512, 6, 8), (1024, 6, 8), (2048, 6, 8)
    ]


def test_full_network_forward_on_a_small_input() -> None:
    network = create_network("sts_net", 3, 2).eval()
    with torch.no_grad():
        assert network(torch.randn(1, 3, 64, 64)).shape == (1, 2, 64, 64)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [2, 5])
@pytest.mark.parametrize("size", [(64, 64), (40, 72)])
def test_tiny_output_shape_follows_the_input(channels: int, num_classes: int, size: tuple[int, int]) -> None:
    network = create_network("sts_net_tiny", channels, num_classes).eval()
    with torch.no_grad():
        assert network(torch.randn(2, channels, *size)).shape == (2, num_classes, *size)


def test_logits_come_from_a_stride_8_map_upsampled_with_aligned_corners() -> None:
    network = create_network("sts_net_tiny", 1, 3).eval()
    seen: list[torch.Tensor] = []
    network.head.register_forward_hook(lambda module, inputs, output: seen.append(output))
    with torch.no_grad():
        out = network(torch.randn(1, 1, 40, 56))
    low = seen[0]
    assert low.shape == (1, 3, 5, 7)
    for row, col in ((0, 0), (-1, -1), (0, -1), (-1, 0)):  # align_corners=True: corners land on corners
        torch.testing.assert_close(out[..., row, col], low[..., row, col])
    # output row 13 of 40 sits on low-res row 13 * (5 - 1) / (40 - 1) = 4 / 3
    weight = 13 * 4 / 39 - 1
    torch.testing.assert_close(out[..., 13, 0], (1 - weight) * low[..., 1, 0] + weight * low[..., 2, 0])


def test_tiny_variant_is_small_and_documented_reductions_hold() -> None:
    network = create_network("sts_net_tiny", 1, 2)
    assert count_parameters(network) < 2_000_000
    assert network.encoder.out_channels == [16, 64, 128, 256, 512]
    assert [len(network.encoder.get_submodule(f"layer{i}")) for i in (1, 2, 3, 4)] == [1, 1, 2, 1]
    assert network.encoder.layer1[0].conv2.groups == 8 and network.encoder.layer1[0].conv2.out_channels == 32


@pytest.mark.parametrize("patch", [(60, 64), (64, 4), (0, 64), (64, 64, 64), (64,)])
def test_patch_sizes_that_are_not_2d_multiples_of_8_are_refused(patch: tuple[int, ...]) -> None:
    with pytest.raises(SvsegError, match="positive multiples of 8"):
        architecture_block("sts_net", patch, (1.0,) * len(patch), 1, 2)


def test_forward_refuses_sizes_that_are_not_multiples_of_8() -> None:
    network = create_network("sts_net_tiny", 1, 2)
    with pytest.raises(SvsegError, match="multiples of 8"):
        network(torch.randn(1, 1, 60, 64))


def test_bad_options_are_user_errors() -> None:
    with pytest.raises(SvsegError, match="no option esca_kernal"):
        create_network("sts_net_tiny", 1, 2, esca_kernal="adaptive")
    with pytest.raises(SvsegError, match="esca_kernel='paper' is not one of shared3, adaptive"):
        create_network("sts_net_tiny", 1, 2, esca_kernel="paper")
    with pytest.raises(SvsegError, match="norm='group'"):
        create_network("sts_net_tiny", 1, 2, norm="group")
    with pytest.raises(SvsegError, match="no channels per group"):
        create_network("sts_net", 1, 2, width=0.125)


def test_deep_supervision_is_refused_and_the_decoder_flag_is_settable() -> None:
    assert STSNet.supports_deep_supervision is False
    with pytest.raises(SvsegError, match="deep_supervision=False"):
        create_network("sts_net_tiny", 1, 2, deep_supervision=True)
    network = create_network("sts_net_tiny", 1, 2)
    assert network.decoder.deep_supervision is False
    network.decoder.deep_supervision = True  # nnU-Net's trainer sets it; output stays one tensor
    assert isinstance(network(torch.randn(2, 1, 32, 32)), torch.Tensor)


def test_instance_norm_trains_on_a_batch_of_one() -> None:
    network = create_network("sts_net_tiny", 2, 3, norm="instance").train()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in network.modules())
    assert isinstance(network.decoder.aspp.pool_proj.norm, nn.GroupNorm)
    loss = F.cross_entropy(network(torch.randn(1, 2, 32, 32)), torch.randint(0, 3, (1, 32, 32)))
    loss.backward()
    assert all(p.grad is not None for p in network.parameters())


def test_pretrained_file_round_trips_into_the_encoder(resnext_file: Path) -> None:
    state = torch.load(resnext_file, weights_only=True)
    network = create_network("sts_net", 3, 2, pretrained=resnext_file)
    loaded = network.encoder.state_dict()
    assert set(loaded) == {k for k in state if not k.startswith("fc.")}
    for key, value in loaded.items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)
    grey = create_network("sts_net", 1, 2, pretrained=resnext_file)  # RGB first conv summed for 1 channel
    torch.testing.assert_close(grey.encoder.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))
    instance = create_network("sts_net", 3, 2, pretrained=resnext_file, norm="instance")  # affine weights only
    torch.testing.assert_close(instance.encoder.layer4[2].bn3.weight, state["layer4.2.bn3.weight"])


def test_pretrained_misfits_name_the_file_and_the_expected_model(resnext_file: Path, tmp_path: Path) -> None:
    with pytest.raises(SvsegError, match=r"resnext50_32x4d.pth: does not fit.*shapes differ.*resnext50_32x4d"):
        create_network("sts_net", 3, 2, pretrained=resnext_file, width=0.5)
    partial = tmp_path / "partial.pth"
    state = torch.load(resnext_file, weights_only=True)
    del state["layer3.1.conv2.weight"]
    torch.save(state, partial)
    with pytest.raises(SvsegError, match=r"partial.pth: .*1 missing keys \(e.g. layer3.1.conv2.weight\)"):
        create_network("sts_net", 3, 2, pretrained=partial)


def test_architecture_block_builds_the_same_network_through_nnunet() -> None:
    block = architecture_block("sts_net_tiny", (64, 96), (1.0, 1.0), 2, 4, esca_kernel="adaptive", norm="instance")
    kwargs = block["arch_kwargs"]
    assert block["network_class_name"] == "svseg.networks.sts_net.STSNet"
    assert kwargs["esca_kernel"] == "adaptive" and kwargs["norm"] == "instance" and kwargs["width"] == 0.25
    assert "pretrained" not in kwargs
    direct = create_network("sts_net_tiny", 2, 4, esca_kernel="adaptive", norm="instance").eval()
    planned = get_network_from_plans(
        block["network_class_name"], kwargs, block["_kw_requires_import"], 2, 4, allow_init=True,
        deep_supervision=False,
    ).eval()
    assert type(planned) is STSNet
    planned.load_state_dict(direct.state_dict())  # same keys and shapes, strictly
    x = torch.randn(1, 2, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(planned(x), direct(x))


@pytest.mark.parametrize("train", [False, True])
def test_bf16_autocast_is_finite_and_close_to_float32(train: bool) -> None:
    model = create_network("sts_net_tiny", 3, 2).train(train)
    x = torch.randn(2, 3, 32, 48)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
    assert torch.isfinite(logits).all()
    logits.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    if not train:
        with torch.no_grad():
            reference = model(x)
        assert (logits.float() - reference).abs().max() <= 0.05 * reference.abs().max() + 1e-3


@pytest.mark.slow
def test_compiles_in_one_graph() -> None:
    import torch._dynamo

    model = create_network("sts_net_tiny", 3, 2)
    for train in (False, True):
        torch._dynamo.reset()
        explanation = torch._dynamo.explain(model.train(train))(torch.randn(2, 3, 64, 64))
        assert explanation.graph_break_count == 0, explanation.break_reasons
        assert explanation.graph_count == 1
