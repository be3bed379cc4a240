"""Tests for svseg/networks/blocks/esca.py: the gate against a hand computation, kernel rules, counts in STS-Net."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svseg.networks import count_parameters, create_network
from svseg.networks.blocks.esca import ESCA, adaptive_kernel_size, esca_kernel_size


def hand_gate(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The released eca_layer written out: mean over H, W; the same zero-padded 1D correlation twice; sigmoid."""
    half = len(kernel) // 2
    gates = []
    for sample in x:
        vector = sample.mean(axis=(1, 2))
        for _ in range(2):
            padded = np.concatenate([np.zeros(half), vector, np.zeros(half)])
            vector = np.array([sum(kernel[j] * padded[i + j] for j in range(len(kernel))) for i in range(len(vector))])
        gates.append(1.0 / (1.0 + np.exp(-vector)))
    return np.stack(gates)


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
def test_output_matches_a_hand_computation(kernel_size: int) -> None:
    esca = ESCA(kernel_size)
    with torch.no_grad():
        esca.conv.weight.copy_(torch.linspace(-1.5, 2.0, kernel_size).view(1, 1, -1))
    x = torch.randn(2, 11, 4, 5, dtype=torch.float64)
    esca = esca.double()
    gate = hand_gate(x.numpy(), esca.conv.weight.detach().view(-1).numpy())
    expected = x.numpy() * gate[:, :, None, None]
    np.testing.assert_allclose(esca(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_twice_applied_conv_is_not_a_single_pass() -> None:
    """Guards the 'applied twice' detail: one pass of the same kernel gives a different gate."""
    esca = ESCA(3).double()
    x = torch.randn(1, 8, 3, 3, dtype=torch.float64)
    kernel = esca.conv.weight.detach().view(-1).numpy()
    pooled = x.numpy()[0].mean(axis=(1, 2))
    once = 1.0 / (1.0 + np.exp(-np.correlate(np.pad(pooled, 1), kernel, mode="valid")))
    assert not np.allclose(esca(x).detach().numpy()[0], x.numpy()[0] * once[:, None, None])


def test_adaptive_rule_gives_eca_kernels_for_the_five_stages() -> None:
    # ECA-Net: t = int(|log2(C) / 2 + 1 / 2|), k = t if t is odd else t + 1
    assert [adaptive_kernel_size(c) for c in (64, 256, 512, 1024, 2048)] == [3, 5, 5, 5, 7]
    assert [adaptive_kernel_size(c) for c in (16, 32, 128)] == [3, 3, 5]
    assert esca_kernel_size("shared3", 2048) == 3
    with pytest.raises(ValueError, match="unknown ESCA kernel mode"):
        esca_kernel_size("paper", 64)
    with pytest.raises(ValueError, match="odd positive"):
        ESCA(4)


def test_sts_net_has_five_gates_with_15_weights_in_the_code_mode() -> None:
    with torch.device("meta"):
        shared = create_network("sts_net", 3, 2)
        adaptive = create_network("sts_net", 3, 2, esca_kernel="adaptive")
    assert [gate.conv.kernel_size[0] for gate in shared.esca] == [3] * 5
    assert count_parameters(shared.esca) == 15
    assert [gate.conv.kernel_size[0] for gate in adaptive.esca] == [3, 5, 5, 5, 7]
    assert count_parameters(adaptive.esca) == 25
    assert count_parameters(adaptive) - count_parameters(shared) == 10


def test_gates_feed_the_next_stage() -> None:
    """ESCA sits between stages: with gate 1's weights zeroed (gate 0.5 everywhere), layer2 sees half of layer1."""
    network = create_network("sts_net_tiny", 1, 2).eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        before = network.encoder(x, network.esca)
        network.esca[1].conv.weight.zero_()
        after = network.encoder(x, network.esca)
        ungated = network.encoder.layer1(network.encoder.maxpool(after[0]))
        torch.testing.assert_close(after[0], before[0])
        torch.testing.assert_close(after[1], 0.5 * ungated)
        torch.testing.assert_close(after[2], network.esca[2](network.encoder.layer2(0.5 * ungated)))
        assert not torch.allclose(after[4], before[4])
