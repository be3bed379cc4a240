"""Forms c and d: true-colour images. H&E-like RGB PNGs, and JPEG photos with JPEG masks (Kvasir-like).

The module walks all five commands on form c. Form d's JPEG masks carry compression noise around
0 and 255 (none of them has a value between 40 and 215), which the user means as 0/1: import
should threshold them into the same kind of dataset as form c's (three ``rgb_to_0_1`` channels,
PNG, labels 0/1), so its new JPEG photos are predicted with form c's model and scored against the
user's JPEG masks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .checks import files_by_stem, read
from .conftest import Trained, data_root, use_root
from .userdata import write_2d_form
from .walk import (
    assert_same_raw_dataset,
    binary,
    check_good_prediction,
    check_masks_2d,
    check_metrics,
    predict_and_evaluate,
    raw_dataset,
    svseg,
    walk,
)


@pytest.fixture(scope="module")
def colour(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("colour")
    with data_root(root / "svseg_data") as home:
        folders = write_2d_form(root / "he", "he_rgb_png")
        return Trained(home, folders, walk(folders, "HeNuclei"))


@pytest.fixture(autouse=True)
def _module_root(colour: Trained, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test here works in the data root holding the module's model."""
    return use_root(colour, monkeypatch)


def test_true_colour_rgb_png(colour: Trained) -> None:
    """Form c: three channels from import to predict."""
    folders, masks = colour.folders, colour.folders.root / "masks"
    dataset = json.loads((raw_dataset(colour.home, "HeNuclei") / "dataset.json").read_text(encoding="utf-8"))
    assert len(dataset["channel_names"]) == 3
    check_masks_2d(folders, masks, ".png", {0, 1})
    check_metrics(folders, masks, [1], binary)
    check_good_prediction(folders, masks, "HeNuclei", [1], binary)


def test_jpeg_masks_are_thresholded_on_import(colour: Trained, tmp_path: Path) -> None:
    """Form d, import: JPEG images become PNG, JPEG masks become exactly mask > 127."""
    home = colour.home
    folders = write_2d_form(tmp_path / "jpeg", "jpeg")
    svseg("import", "-i", folders.train, "-n", "Polyps")
    assert_same_raw_dataset(home, "Polyps", "HeNuclei", pixels=False)
    sources = files_by_stem(folders.train / "labels")
    for stem, path in files_by_stem(raw_dataset(home, "Polyps") / "labelsTr").items():
        np.testing.assert_array_equal(read(path).array, binary(read(sources[stem]).array), err_msg=stem)


def test_jpeg_photos_are_predicted_as_png_masks(colour: Trained, tmp_path: Path) -> None:
    """Form d, predict: new JPEG photos get lossless PNG masks of their size."""
    folders = write_2d_form(tmp_path / "jpeg", "jpeg")
    masks = tmp_path / "masks"
    colour.run.step("predict jpeg", "predict", "-i", folders.new_images, "-o", masks, "-d", "HeNuclei")
    check_masks_2d(folders, masks, ".png", {0, 1})


def test_jpeg_masks_are_read_as_binary_by_evaluate(colour: Trained, tmp_path: Path) -> None:
    """Form d, evaluate: the user's JPEG masks are the references, read as 0/1 like import reads them."""
    folders = write_2d_form(tmp_path / "jpeg", "jpeg")
    masks = predict_and_evaluate(colour.run, folders, tmp_path / "masks")
    check_metrics(folders, masks, [1], binary)
    check_good_prediction(folders, masks, "HeNuclei", [1], binary)
