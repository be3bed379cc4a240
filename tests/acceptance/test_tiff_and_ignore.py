"""Forms e and i: 16-bit grey TIFF with TIFF masks, and 0/1/2 masks with 255 where nobody annotated.

Both walk all five commands on their own data: neither imports into a dataset another form trains.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .checks import files_by_stem, read
from .userdata import write_2d_form, write_ignore_form
from .walk import as_labels, binary, check_good_prediction, check_masks_2d, check_metrics, raw_dataset, walk


def test_16_bit_tiff(tmp_path: Path, isolated_data_root: Path) -> None:
    """Form e: 16-bit grey TIFF images with TIFF masks; masks come back as TIFF of the image's size."""
    folders = write_2d_form(tmp_path / "user", "tiff16")
    walk(folders, "Tiff16")
    dataset = json.loads((raw_dataset(isolated_data_root, "Tiff16") / "dataset.json").read_text(encoding="utf-8"))
    assert len(dataset["channel_names"]) == 1
    image = read(next(iter(files_by_stem(raw_dataset(isolated_data_root, "Tiff16") / "imagesTr").values()))).array
    assert image.max() > 255, "the 16-bit intensities must survive import"
    masks = folders.root / "masks"
    check_masks_2d(folders, masks, ".tif", {0, 1})
    check_metrics(folders, masks, [1], binary)
    check_good_prediction(folders, masks, "Tiff16", [1], binary)


def test_masks_with_an_ignore_value(tmp_path: Path, isolated_data_root: Path) -> None:
    """Form i: the user names the labels, the last one ``ignore``, and gives nothing else.

    Import maps 255 to the highest label, 3, which nnU-Net leaves out of the loss; masks never
    hold it; evaluate, told the dataset, leaves those pixels out of every number.
    """
    folders = write_ignore_form(tmp_path / "user")
    walk(folders, "Partial", import_args=("--labels", "background,small,large,ignore"))
    raw = raw_dataset(isolated_data_root, "Partial")
    labels = json.loads((raw / "dataset.json").read_text(encoding="utf-8"))["labels"]
    assert labels == {"background": 0, "small": 1, "large": 2, "ignore": 3}
    sources = files_by_stem(folders.train / "labels")
    for stem, label in files_by_stem(raw / "labelsTr").items():
        source = read(sources[stem]).array
        np.testing.assert_array_equal(read(label).array, np.where(source == 255, 3, source), err_msg=stem)
    masks = folders.root / "masks"
    check_masks_2d(folders, masks, ".png", {0, 1, 2})
    check_metrics(folders, masks, [1, 2], as_labels, ignore=255)
    check_good_prediction(folders, masks, "Partial", [1, 2], as_labels, ignore=255)
