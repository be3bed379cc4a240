"""Tests for svseg/networks/blocks/link_decoder.py: level shapes per fusion, official UpLink count."""

from __future__ import annotations

import pytest
import torch

from svseg.networks.blocks.link_decoder import LinkDecoder, UpLink


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


def test_official_uplink_parameter_count_and_bad_fusion() -> None:
    # svanet.md §14: UpLink 2048->1024 3.936 M (hand count 3,936,256).
    assert sum(p.numel() for p in UpLink(2048, 1024).parameters()) == 3_936_256
    assert UpLink(16, 8)(torch.randn(2, 16, 3, 5)).shape == (2, 8, 6, 10)
    with pytest.raises(ValueError):
        LinkDecoder(8, [4], fusion="sum")
