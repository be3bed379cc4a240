"""LSNetTrainer: the two-update step learns tiny objects; ``--arch lsnet_tiny`` trains and predicts end to end."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import svseg.nnunet_ext
from svseg.training.lsnet_trainer import LSNetStepHooks, LSNetTrainer
from svseg.training.run_plans import model_folder_name, trainer_class, trainer_name_for
from svseg.training.trainer import SvsegTrainer

SIDE = 64


def tiny_object_batch(rng: np.random.Generator, n: int) -> dict[str, torch.Tensor]:
    """Noisy 64 x 64 slices, one bright disk of radius 2-4 px each (about 0.8 % of the slice)."""
    yy, xx = np.mgrid[:SIDE, :SIDE]
    image = rng.normal(0, 1, (n, 1, SIDE, SIDE)).astype(np.float32)
    label = np.zeros((n, 1, SIDE, SIDE), np.float32)
    for i in range(n):
        radius = rng.uniform(2, 4)
        cy, cx = rng.uniform(8, SIDE - 8, 2)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        label[i, 0][disk] = 1
        image[i, 0][disk] += 2.5
    return {"data": torch.from_numpy(image), "target": torch.from_numpy(label)}


class StepOnly:
    """Just what LSNetStepHooks.train_step reads from a trainer, around the real step code."""

    train_step = LSNetStepHooks.train_step
    _autocast = LSNetStepHooks._autocast
    _update = LSNetStepHooks._update

    def __init__(self, network: torch.nn.Module) -> None:
        from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
        from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

        self.network = network
        self.device = torch.device("cpu")
        self.grad_scaler = None
        self.label_manager = SimpleNamespace(has_ignore_label=False, ignore_label=None)
        # nnU-Net's default 2D loss, as SvsegTrainer builds it for the dice_ce recipe
        self.loss = DC_and_CE_loss({"batch_dice": True, "smooth": 1e-5, "do_bg": False, "ddp": False}, {},
                                   weight_ce=1, weight_dice=1, dice_class=MemoryEfficientSoftDiceLoss)
        self.optimizer = torch.optim.AdamW(network.parameters(), 3e-3, weight_decay=0)


def test_short_training_on_tiny_objects_reaches_a_dice_far_above_chance() -> None:
    from svseg.networks import create_network

    torch.set_num_threads(1)
    torch.manual_seed(0)
    network = create_network("lsnet_tiny", 1, 2, patch_size=[SIDE, SIDE]).train()
    trainer = StepOnly(network)
    rng = np.random.default_rng(0)
    losses = [float(trainer.train_step(tiny_object_batch(rng, 4))["loss"]) for _ in range(60)]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    network.eval()
    test = tiny_object_batch(np.random.default_rng(99), 16)
    with torch.no_grad():
        predicted = network(test["data"]).argmax(1) == 1
    truth = test["target"][:, 0] == 1
    dice = 2 * (predicted & truth).sum() / (predicted.sum() + truth.sum())
    # chance: a mask drawn at the foreground rate (0.8 %) scores a Dice of about 0.008
    assert dice > 0.5, f"Dice {dice:.3f}"


def test_lsnet_picks_its_trainer_and_names_its_model_folder_after_it() -> None:
    assert trainer_name_for("lsnet") == trainer_name_for("svseg.networks.lsnet.model.LSNet") == "LSNetTrainer"
    assert trainer_name_for("unet") == "SvsegTrainer"
    assert trainer_class("LSNetTrainer") is LSNetTrainer and issubclass(LSNetTrainer, SvsegTrainer)
    assert model_folder_name("2d_lsnet", "svsegPlans", "LSNetTrainer") == "LSNetTrainer__svsegPlans__2d_lsnet"
    # the L-SNet step sits right above nnU-Net's, so svseg's mixins (progress bar) still wrap it
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    order = LSNetTrainer.__mro__
    assert order[order.index(LSNetStepHooks) + 1] is nnUNetTrainer


def test_nnunet_finds_lsnet_trainer_through_the_ext_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    monkeypatch.setenv("nnUNet_extTrainer", str(svseg.nnunet_ext.EXT_TRAINER_DIR))
    assert recursive_find_trainer_class_by_name("LSNetTrainer") is LSNetTrainer


def test_arch_lsnet_tiny_trains_and_predicts(data_root: Path, tmp_path: Path) -> None:
    from svseg.inference.api import predict
    from svseg.training.api import train

    result = train("Disks", 0, arch="lsnet_tiny", device="cpu", epochs=1, iters_per_epoch=3, batch_size=2)
    assert result.configuration == "2d_lsnet_tiny"
    assert result.model_dir.name == "LSNetTrainer__svsegPlans__2d_lsnet_tiny"
    checkpoint = torch.load(result.fold_dir / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert checkpoint["trainer_name"] == "LSNetTrainer"
    debug = json.loads((result.fold_dir / "debug.json").read_text(encoding="utf-8"))
    assert debug["enable_deep_supervision"] == "False"
    assert (result.fold_dir / "validation" / "summary.json").is_file()  # nnU-Net's final validation ran

    images = sorted((data_root / "raw" / "Dataset811_Disks" / "imagesTr").glob("*.png"))[:2]
    out = tmp_path / "predicted"
    predicted = predict(images, out, dataset="Disks", arch="lsnet_tiny", device="cpu")
    assert predicted.model_dir == result.model_dir
    assert sorted(p.name for p in out.glob("*.png")) == [p.name for p in images]
