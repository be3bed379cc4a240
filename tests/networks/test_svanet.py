"""Tests for svseg/networks/svanet.py: the paper model's counts, shapes, switches and runtime behaviour.

Reference numbers come from docs/design/svanet.md (§14, §16, §17), measured on the official code.
Full-size models are built on the meta device (shapes only), so these tests stay fast.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from svseg.errors import SvsegError
from svseg.networks import SvANet, count_macs, count_parameters, create_network
from svseg.utils.fs import atomic_torch_save

OFFICIAL_PARAMS = {8: 202_448_504, 2: 202_434_290}
OFFICIAL_GMACS_8_CLASSES = 366.94


def meta_svanet(num_classes: int = 8, **kwargs: object) -> SvANet:
    with torch.device("meta"):
        return create_network("svanet", 3, num_classes, **kwargs)


@pytest.mark.parametrize("num_classes", [8, 2])
def test_paper_parameter_count_is_exact(num_classes: int) -> None:
    assert count_parameters(meta_svanet(num_classes)) == OFFICIAL_PARAMS[num_classes]


def test_paper_macs_within_one_percent_of_the_official_count() -> None:
    macs = count_macs(meta_svanet(8), (1, 3, 512, 512))
    assert abs(macs / 1e9 - OFFICIAL_GMACS_8_CLASSES) / OFFICIAL_GMACS_8_CLASSES < 0.01


def test_component_parameter_counts_match_the_official_breakdown() -> None:
    model = meta_svanet(8)
    counts = {name: count_parameters(module) / 1e6 for name, module in model.named_children()}
    # svanet.md §14 (millions, rounded to 3 decimals in the reference)
    expected = {
        "encoder": 23.508,
        "aspp": 31.726,
        "branches": 0.173 + 0.058 + 2.756 + 0.922 + 11.016 + 3.678 + 44.053 + 14.696,
        "guidance": 19.029,
        "decoder": 5.226 + 26.234 + 19.355,
        "head": 0.019,
    }
    for name, millions in expected.items():
        assert counts[name] == pytest.approx(millions, abs=0.003), name


@pytest.mark.parametrize(
    ("switches", "official_millions"),
    [
        ({"mcattn": False}, 199.68),  # --fg_bottle_se 0
        ({"svattn": False}, 197.24),  # --fg_svattn 0
        ({"assemformer": "branch"}, 183.09),  # --fg_link_vit 0
        ({"decoder_fusion": "add"}, 176.21),  # --fg_link 1
        ({"decoder_fusion": "none"}, 151.63),  # --fg_link 0
        ({"bottleneck": False, "assemformer": "decoder"}, 125.10),  # --fg_bottle 0
        ({"mcattn_pool_sizes": (1, 2, 3, 4), "mcattn_shuffle": False}, 202.45),  # no parameter change
    ],
)
def test_ablation_switches_match_the_official_parameter_counts(switches: dict, official_millions: float) -> None:
    assert count_parameters(meta_svanet(8, **switches)) / 1e6 == pytest.approx(official_millions, abs=0.005)


@pytest.mark.parametrize(
    "switches",
    [
        {"bottleneck": False},
        {"mcattn": False},
        {"cross_scale_guidance": False},
        {"svattn": False},
        {"assemformer": "none"},
        {"assemformer": "decoder"},
        {"decoder_fusion": "add"},
        {"decoder_fusion": "none"},
        {"width": 0.0625},
        {"mcattn_pool_sizes": (1, 2), "mcattn_shuffle": False},
    ],
)
def test_every_ablation_switch_builds_and_trains(switches: dict) -> None:
    model = create_network("svanet_tiny", 1, 2, **switches).train()
    logits = model(torch.randn(2, 1, 64, 64))
    assert logits.shape == (2, 2, 64, 64)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [2, 8])
@pytest.mark.parametrize("size", [(64, 64), (64, 128), (96, 32)])
def test_output_shape_follows_the_input(channels: int, num_classes: int, size: tuple[int, int]) -> None:
    model = create_network("svanet_tiny", channels, num_classes).eval()
    with torch.no_grad():
        assert model(torch.randn(1, channels, *size)).shape == (1, num_classes, *size)


def test_full_model_shapes_on_meta_for_nnunet_patches() -> None:
    model = meta_svanet(2).eval()
    for size in [(512, 512), (384, 320), (224, 160)]:
        assert model(torch.empty(1, 3, *size, device="meta")).shape == (1, 2, *size)


def test_tiny_variant_is_small() -> None:
    assert count_parameters(create_network("svanet_tiny", 3, 8)) < 3_000_000


def test_sizes_that_are_not_multiples_of_32_are_refused() -> None:
    model = create_network("svanet_tiny", 1, 2).eval()
    with pytest.raises(SvsegError, match="multiples of 32"):
        model(torch.randn(1, 1, 64, 80 + 8))


def test_deep_supervision_is_refused_and_the_decoder_flag_is_settable() -> None:
    assert SvANet.supports_deep_supervision is False
    with pytest.raises(SvsegError, match="deep_supervision=False"):
        create_network("svanet_tiny", 1, 2, deep_supervision=True)
    model = create_network("svanet_tiny", 1, 2).eval()
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        before = model(x)
        model.decoder.deep_supervision = True  # what nnU-Net's trainer does after validation
        after = model(x)
    assert isinstance(after, torch.Tensor)
    torch.testing.assert_close(before, after)


def test_bad_switch_values_are_user_errors() -> None:
    with pytest.raises(SvsegError, match="decoder_fusion"):
        create_network("svanet_tiny", 1, 2, decoder_fusion="sum")
    with pytest.raises(SvsegError, match="assemformer"):
        create_network("svanet_tiny", 1, 2, assemformer="yes")


def test_eval_is_deterministic_and_training_is_stochastic() -> None:
    model = create_network("svanet_tiny", 3, 2)
    x = torch.randn(2, 3, 32, 64)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        model.train()
        first, second = model(x), model(x)
    assert not torch.equal(first, second)


def test_every_parameter_receives_a_gradient() -> None:
    model = create_network("svanet_tiny", 3, 4).train()
    x = torch.randn(2, 3, 64, 96)
    F.cross_entropy(model(x), torch.randint(0, 4, (2, 64, 96))).backward()
    unused = [name for name, p in model.named_parameters() if p.grad is None]
    assert not unused
    dead = [name for name, p in model.named_parameters() if not p.grad.abs().sum() > 0]
    assert not dead


def test_state_dict_round_trip(tmp_path) -> None:
    model = create_network("svanet_tiny", 1, 3).eval()
    path = tmp_path / "weights.pt"
    atomic_torch_save(path, model.state_dict())
    clone = create_network("svanet_tiny", 1, 3).eval()
    clone.load_state_dict(torch.load(path, weights_only=True))
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(clone(x), model(x), rtol=0, atol=0)
    assert not any("partition" in k or "pool_sizes" in k for k in model.state_dict())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("train", [False, True])
def test_autocast_is_finite_and_close_to_float32(dtype: torch.dtype, train: bool) -> None:
    model = create_network("svanet_tiny", 3, 2).train(train)
    x = torch.randn(2, 3, 32, 64)
    with torch.autocast("cpu", dtype=dtype):
        logits = model(x)
    assert torch.isfinite(logits).all()
    logits.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    if not train:
        with torch.no_grad():
            reference = model(x)
        scale = reference.abs().max()
        assert (logits.float() - reference).abs().max() <= 0.05 * scale + 1e-3


def test_channels_last_gives_the_same_result() -> None:
    model = create_network("svanet_tiny", 3, 2).eval()
    x = torch.randn(2, 3, 32, 64)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        torch.testing.assert_close(model(x.to(memory_format=torch.channels_last)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_compiles_without_graph_breaks_or_recompiles() -> None:
    import torch._dynamo

    model = create_network("svanet_tiny", 3, 2)
    x = torch.randn(2, 3, 64, 64)
    for train in (False, True):
        torch._dynamo.reset()
        explanation = torch._dynamo.explain(model.train(train))(x)
        assert explanation.graph_break_count == 0, explanation.break_reasons
        assert explanation.graph_count == 1
    # The random MCAttn pool size and SvAttn mosaic are device tensors: repeated training calls
    # must reuse the compiled graph.
    torch._dynamo.reset()
    compiled = torch.compile(model.train(), backend="eager", fullgraph=True)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(4):
            compiled(x)


def test_detail_head_starts_as_the_coarse_logits_and_learns_a_correction() -> None:
    torch.manual_seed(0)
    model = create_network("svanet_tiny_detail", 1, 2).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        detailed = model(x)
        detail, model.detail = model.detail, None
        coarse = model(x)
        model.detail = detail
    assert torch.equal(detailed, coarse)  # the correction conv starts at zero
    model.train()
    F.cross_entropy(model(x), (x[:, 0] > 0).long()).backward()
    assert model.detail.correction.weight.grad.abs().sum() > 0
    # the features reach the output only through the correction's (zero) weights: no gradient yet
    assert model.detail.features[0].conv.weight.grad.abs().sum() == 0
    assert count_parameters(model) - count_parameters(create_network("svanet_tiny", 1, 2)) == (
        1 * 16 * 9 + 16 * 2 + 16 * 16 * 9 + 16 * 2 + (16 + 2) * 2 * 9 + 2
    )


def test_detail_head_width_must_not_be_negative() -> None:
    with pytest.raises(SvsegError, match="detail_channels >= 0"):
        create_network("svanet_tiny", 1, 2, detail_channels=-1)
