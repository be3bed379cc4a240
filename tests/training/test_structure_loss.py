"""F3Net's structure loss against a numpy computation, its nnU-Net wiring, and a short m2snet_tiny training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from nnunetv2.training.loss.compound_losses import DC_and_BCE_loss, DC_and_CE_loss
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss
from PIL import Image as PILImage

from svseg.errors import SvsegError
from svseg.planning.plans import _LOSSES, Recipe
from svseg.training.losses import LOSSES, WithStructure, apply_recipe_loss
from svseg.training.structure_loss import StructureLoss

SIDE = 40  # larger than the 31-pixel window, so the window's border handling matters


def _numpy_structure(logits: np.ndarray, masks: np.ndarray, weighted_bce: bool = True) -> float:
    """Per (image, channel): wBCE + wIoU as F3Net defines them, in float64 numpy; then the mean."""
    values = []
    for p_logit, g in zip(logits.reshape(-1, SIDE, SIDE), masks.reshape(-1, SIDE, SIDE), strict=True):
        padded = np.pad(g, 15)
        pooled = np.array([[padded[y : y + 31, x : x + 31].sum() / 961.0 for x in range(SIDE)] for y in range(SIDE)])
        w = 1 + 5 * np.abs(pooled - g)
        p = 1 / (1 + np.exp(-p_logit))
        bce = -(g * np.log(p) + (1 - g) * np.log(1 - p))
        wbce = (w * bce).sum() / w.sum() if weighted_bce else bce.mean()
        inter = (w * p * g).sum()
        union = (w * (p + g)).sum()
        values.append(wbce + 1 - (inter + 1) / (union - inter + 1))
    return float(np.mean(values))


def _example(classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, classes, SIDE, SIDE, generator=generator, dtype=torch.float64)
    labels = torch.zeros(2, 1, SIDE, SIDE)
    labels[0, 0, 5:12, 6:30] = 1
    labels[0, 0, 25:28, 30:33] = 2  # a tiny object
    labels[1, 0, 18:40, 0:9] = 2  # touching the border
    return logits, labels


def _one_hot(labels: torch.Tensor, classes: int) -> np.ndarray:
    return np.stack([(labels[:, 0].numpy() == c) for c in range(classes)], axis=1).astype(np.float64)


@pytest.mark.parametrize("weighted_bce", [True, False])
def test_matches_numpy_with_background(weighted_bce: bool) -> None:
    logits, labels = _example()
    got = StructureLoss(weighted_bce=weighted_bce)(logits, labels).item()
    assert got == pytest.approx(_numpy_structure(logits.numpy(), _one_hot(labels, 3), weighted_bce), rel=1e-6)


def test_weighted_and_official_bce_differ() -> None:
    logits, labels = _example()
    assert StructureLoss()(logits, labels).item() != pytest.approx(
        StructureLoss(weighted_bce=False)(logits, labels).item(), rel=1e-3)


def test_background_excluded_uses_foreground_channels_only() -> None:
    logits, labels = _example()
    got = StructureLoss(include_background=False)(logits, labels).item()
    assert got == pytest.approx(_numpy_structure(logits[:, 1:].numpy(), _one_hot(labels, 3)[:, 1:]), rel=1e-6)


def test_regions_are_used_as_given_with_the_ignore_channel_last() -> None:
    logits, labels = _example(2)
    regions = torch.from_numpy(_one_hot(labels, 3)[:, 1:])  # two region channels
    assert StructureLoss(regions=True)(logits, regions).item() == pytest.approx(
        _numpy_structure(logits.numpy(), regions.numpy()), rel=1e-6)
    with_ignore = torch.cat([regions, torch.zeros(2, 1, SIDE, SIDE, dtype=torch.float64)], dim=1)
    assert StructureLoss(regions=True, region_ignore_channel=True)(logits, with_ignore).item() == pytest.approx(
        _numpy_structure(logits.numpy(), regions.numpy()), rel=1e-6)


def test_ignored_pixels_count_in_neither_term() -> None:
    logits, labels = _example()
    labels[:, :, :4, :] = 9
    loss = StructureLoss(ignore_label=9)
    changed = logits.clone()
    changed[:, :, :4, :] = 50.0
    assert loss(changed, labels).item() == pytest.approx(loss(logits, labels).item(), rel=1e-12)
    changed[:, :, 4, :] = 50.0
    assert loss(changed, labels).item() != pytest.approx(loss(logits, labels).item(), rel=1e-6)


def test_good_prediction_scores_lower_and_every_channel_gets_a_gradient() -> None:
    _, labels = _example()
    good = torch.from_numpy(_one_hot(labels, 3) * 16 - 8).requires_grad_()
    loss = StructureLoss()
    value = loss(good, labels)
    value.backward()
    assert value.item() < 0.1 < loss(torch.zeros_like(good), labels).item()
    assert all(good.grad[:, c].abs().sum() > 0 for c in range(3))


def _nnunet_softmax_loss(ignore_label: int | None = None) -> DC_and_CE_loss:
    return DC_and_CE_loss({"batch_dice": False, "smooth": 1e-5, "do_bg": False, "ddp": False}, {},
                          weight_ce=1, weight_dice=1, ignore_label=ignore_label, dice_class=MemoryEfficientSoftDiceLoss)


def test_recipe_loss_structure_replaces_nnunets_compound_inside_deep_supervision() -> None:
    logits, labels = _example()
    wrapped = apply_recipe_loss(DeepSupervisionWrapper(_nnunet_softmax_loss(ignore_label=7), [1.0, 0.0]), "structure")
    assert isinstance(wrapped, DeepSupervisionWrapper) and isinstance(wrapped.loss, StructureLoss)
    assert wrapped.loss.ignore_label == 7 and wrapped.loss.include_background
    value = wrapped([logits, logits[:, :, ::2, ::2]], [labels, labels[:, :, ::2, ::2]])
    assert value.item() == pytest.approx(_numpy_structure(logits.numpy(), _one_hot(labels, 3)), rel=1e-6)
    regions = apply_recipe_loss(DC_and_BCE_loss({}, {"batch_dice": False, "do_bg": True, "smooth": 1e-5,
                                                      "ddp": False}, use_ignore_label=True), "structure")
    assert regions.regions and regions.region_ignore_channel


def test_dice_ce_structure_adds_the_foreground_structure_term() -> None:
    logits, labels = _example()
    combined = apply_recipe_loss(_nnunet_softmax_loss(), "dice_ce_structure")
    assert isinstance(combined, WithStructure)
    expected = _nnunet_softmax_loss()(logits, labels).item() + _numpy_structure(
        logits[:, 1:].numpy(), _one_hot(labels, 3)[:, 1:])
    assert combined(logits, labels).item() == pytest.approx(expected, rel=1e-6)


def test_recipe_accepts_the_new_losses_and_plans_agree_with_the_trainer() -> None:
    assert set(_LOSSES) == set(LOSSES)
    assert Recipe().with_overrides(loss="structure").loss == "structure"
    with pytest.raises(SvsegError, match=r"recipe\.loss must be one of"):
        Recipe().with_overrides(loss="lossnet")


def test_m2snet_tiny_trains_with_the_structure_loss_and_predicts(data_root: Path, tmp_path: Path) -> None:
    from svseg.inference.api import predict
    from svseg.training.api import train

    result = train("Disks", 0, arch="m2snet_tiny", device="cpu", epochs=1, iters_per_epoch=2, batch_size=2,
                   loss="structure")
    assert result.configuration == "2d_m2snet_tiny"
    assert (result.fold_dir / "checkpoint_final.pth").is_file()
    plans = json.loads((result.model_dir / "plans.json").read_text(encoding="utf-8"))
    assert plans["svseg"]["recipe"]["loss"] == "structure"
    assert plans["configurations"]["2d_m2snet_tiny"]["architecture"]["network_class_name"].endswith(".M2SNet")
    source = data_root / "raw" / "Dataset811_Disks" / "imagesTr" / "disk_000_0000.png"
    predicted = predict([source], tmp_path / "masks", model_dir=result.model_dir, folds=["0"], device="cpu")
    mask = np.asarray(PILImage.open(predicted.written[0]))
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 1}


def test_cli_train_unknown_loss_is_refused_before_training(data_root: Path) -> None:
    from typer.testing import CliRunner

    from svseg.cli import app

    result = CliRunner().invoke(app, ["train", "-d", "Disks", "-f", "0", "--device", "cpu", "--loss", "lossnet"])
    assert result.exit_code == 2 and "--loss 'lossnet': must be one of" in result.output
    assert "structure" in result.output and len(result.output.strip().splitlines()) == 1
    assert not list((data_root / "results").rglob("*.pth"))
