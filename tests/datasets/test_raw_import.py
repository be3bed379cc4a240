"""Importing datasets that are already in nnU-Net's raw layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svseg.datasets.raw_import import import_raw_dataset
from svseg.errors import SvsegError
from svseg.paths import raw_root

from .makers import disk_mask, nnunet_raw, noise_image, read_json, tree_hashes, write_png


def test_legacy_modality_key_and_dataset_listing_are_normalised(tmp_path: Path) -> None:
    source = tmp_path / "listed"
    for i in range(2):
        write_png(source / "pics" / f"k{i}.png", noise_image((8, 8), seed=i))
        write_png(source / "gt" / f"k{i}_gt.png", disk_mask((8, 8), 1, radius=2, centre=(4, 4)))
    (source / "dataset.json").write_text(json.dumps({
        "modality": {"0": "zscore"}, "labels": {"background": 0, "x": 1}, "numTraining": 2, "file_ending": ".png",
        "dataset": {f"k{i}": {"images": [f"pics/k{i}.png"], "label": f"gt/k{i}_gt.png"} for i in range(2)},
        "svseg": {"label_mapping": {"0": 0, "255": 1}, "created": "old"},
    }))
    result = import_raw_dataset(source, "Listed", None)
    content = read_json(result.folder / "dataset.json")
    assert sorted(p.name for p in (result.folder / "imagesTr").iterdir()) == ["k0_0000.png", "k1_0000.png"]
    assert "dataset" not in content and "modality" not in content and content["channel_names"] == {"0": "zscore"}
    assert content["svseg"]["label_mapping"] == {"0": 0, "255": 1} and content["svseg"]["created"] != "old"


def test_in_place_registration_checks_name_and_id() -> None:
    folder = nnunet_raw(raw_root() / "Dataset008_Here")
    before = tree_hashes(folder)
    assert import_raw_dataset(folder, "Here", 8).in_place
    for name, dataset_id in (("Other", None), ("Here", 9)):
        with pytest.raises(SvsegError, match="already registered as Dataset008_Here"):
            import_raw_dataset(folder, name, dataset_id)
    assert tree_hashes(folder) == before


def test_invalid_raw_dataset_is_not_copied(tmp_path: Path) -> None:
    source = nnunet_raw(tmp_path / "D", n=1)
    with pytest.raises(SvsegError, match="at least 2 training cases"):
        import_raw_dataset(source, "One", None)
    assert not raw_root().exists()
