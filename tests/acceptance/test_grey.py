"""Forms a and b, and ``--arch``: grey and equal-channel RGB PNGs with 0/255 PNG masks.

Form b is the reported failure: RGB PNGs whose three channels are equal, which import stores as
grey, and then predict refused new images of the same kind. The module walks all five commands on
form b with ``--arch svanet_tiny`` (the network ``--preset cpu_quick`` plans) on train and
predict, the other reported failure. Form a's import must give the very same raw dataset, so its
new grey images are predicted with that model rather than a second one trained on equal data.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import Trained, data_root, use_root
from .userdata import write_2d_form
from .walk import (
    FOLD,
    Walk,
    assert_same_raw_dataset,
    binary,
    check_good_prediction,
    check_masks_2d,
    check_metrics,
    predict_and_evaluate,
    svseg,
    walk,
)


@pytest.fixture(scope="module")
def equal_rgb(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("grey")
    with data_root(root / "svseg_data") as home:
        folders = write_2d_form(root / "equal_rgb", "equal_rgb_png")
        return Trained(home, folders, walk(folders, "EqualRgb", arch="svanet_tiny"))


@pytest.fixture(autouse=True)
def _module_root(equal_rgb: Trained, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test here works in the data root holding the module's model."""
    return use_root(equal_rgb, monkeypatch)


def test_equal_channel_rgb_png_with_arch(equal_rgb: Trained) -> None:
    """Form b: all five commands, the same ``--arch`` name in train and predict."""
    folders, masks = equal_rgb.folders, equal_rgb.folders.root / "masks"
    check_masks_2d(folders, masks, ".png", {0, 1})
    check_metrics(folders, masks, [1], binary)
    check_good_prediction(folders, masks, "EqualRgb", [1], binary)


def test_grey_png(equal_rgb: Trained, tmp_path: Path) -> None:
    """Form a: import gives form b's raw dataset; new grey PNGs are predicted and scored like form b's."""
    home = equal_rgb.home
    folders = write_2d_form(tmp_path / "grey", "grey_png")
    svseg("import", "-i", folders.train, "-n", "GreyNuclei")
    assert_same_raw_dataset(home, "GreyNuclei", "EqualRgb", pixels=True)
    masks = predict_and_evaluate(equal_rgb.run, folders, tmp_path / "masks")
    check_masks_2d(folders, masks, ".png", {0, 1})
    check_metrics(folders, masks, [1], binary)
    check_good_prediction(folders, masks, "GreyNuclei", [1], binary)


def test_predict_without_arch_lists_both_models(equal_rgb: Trained, tmp_path: Path) -> None:
    """A second network on the same dataset: predict without ``--arch`` exits 2 naming both, writes nothing."""
    second = Walk("EqualRgb", "unet")
    second.step("train", "train", "-d", "EqualRgb", "-f", FOLD, "--arch", "unet", "--epochs", "1",
                "--iters-per-epoch", "2")
    output = svseg("predict", "-i", equal_rgb.folders.new_images, "-o", tmp_path / "masks", "-d", "EqualRgb", code=2)
    text = re.sub(r"\s+", " ", output)
    assert "svanet_tiny" in text and "unet" in text.replace("svanet_tiny", ""), output
    assert "--arch" in text, output
    assert not (tmp_path / "masks").exists() or not any((tmp_path / "masks").iterdir())
    masks = predict_and_evaluate(second, equal_rgb.folders, tmp_path / "masks_unet")
    check_masks_2d(equal_rgb.folders, masks, ".png", {0, 1})
