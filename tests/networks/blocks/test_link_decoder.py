"""Tests for svseg/networks/blocks/link_decoder.py and aspp.py / mc_bottleneck.py (shapes, official counts)."""

from __future__ import annotations

import pytest
import torch

from svseg.networks.blocks.aspp import ASPP
from svseg.networks.blocks.link_decoder import LinkDecoder, UpLink
from svseg.networks.blocks.mc_bottleneck import MCBottleneck


@pytest.mark.parametrize("fusion", ["concat", "add", "none"])
def test_decoder_levels_follow_the_skips(fusion: str) -> None:
    decoder = LinkDecoder(32, [16, 8, 4], fusion=fusion, assemformer_depth=1).eval()
    top = torch.randn(2, 32, 2, 3)
    skips = [torch.randn(2, 16, 4, 6), torch.randn(2, 8, 8, 12), torch.randn(2, 4, 16, 24)]
    outs = decoder(top, skips)
    assert [o.shape for o in outs] == [s.shape for s in skips]
    if fusion == "none":
        assert all(o is s for o, s in zip(outs, skips, strict=True)) and not list(decoder.parameters())
    assert decoder.deep_supervision is False
    decoder.deep_supervision = True  # nnU-Net's trainer sets it unconditionally


def test_official_uplink_and_aspp_parameter_counts() -> None:
    # svanet.md §14: UpLink 2048->1024 3.936 M; ASPP 31.726 M (hand counts below).
    assert sum(p.numel() for p in UpLink(2048, 1024).parameters()) == 3_936_256
    assert sum(p.numel() for p in ASPP(2048, 512).parameters()) == 31_725_568
    with pytest.raises(ValueError):
        LinkDecoder(8, [4], fusion="sum")


def test_aspp_and_bottleneck_shapes() -> None:
    assert ASPP(16, 8).eval()(torch.randn(2, 16, 3, 5)).shape == (2, 8, 3, 5)
    block = MCBottleneck(8, gate_min_hidden=8).eval()
    x = torch.randn(2, 8, 6, 6)
    assert block(x).shape == x.shape
    # svanet.md §14: branch-1 bottleneck with MCAttn 0.173 M (hand count 172,832).
    assert sum(p.numel() for p in MCBottleneck(64).parameters()) == 172_832
    assert sum(p.numel() for p in MCBottleneck(64, mcattn=False).parameters()) == 172_832 - 8_352
