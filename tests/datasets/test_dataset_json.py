"""dataset.json reading, building, and default names."""

from __future__ import annotations

from pathlib import Path

import pytest

from svseg import __version__
from svseg.datasets.dataset_json import (
    build_dataset_json,
    channel_names_from_user,
    declared_label_values,
    default_channel_names,
    default_label_names,
    label_names_from_user,
    load_json,
    split_names,
)
from svseg.errors import SvsegError


def test_load_json_reports_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    for name, message in (("bad.json", "not valid JSON"), ("list.json", "JSON object"), ("none.json", "no such")):
        with pytest.raises(SvsegError, match=message) as error:
            load_json(tmp_path / name)
        assert name in str(error.value)


def test_label_names_put_background_first() -> None:
    assert split_names(["a, b", "", "c"]) == ["a", "b", "c"]
    assert label_names_from_user("lesion") == ["background", "lesion"]
    assert label_names_from_user(["background", "lesion"]) == ["background", "lesion"]
    assert label_names_from_user(None) is None and label_names_from_user([""]) is None
    with pytest.raises(SvsegError, match="must come first"):
        label_names_from_user("lesion,background")
    with pytest.raises(SvsegError, match="given twice"):
        label_names_from_user("a,a")


def test_default_names() -> None:
    assert default_label_names(2) == ["background", "foreground"]
    assert default_label_names(3) == ["background", "label_1", "label_2"]
    assert default_channel_names(3, is_volume=False, rgb_8bit=True, modality=None) == ["rgb_to_0_1"] * 3
    assert default_channel_names(1, is_volume=True, rgb_8bit=False, modality="CT") == ["CT"]
    assert default_channel_names(1, is_volume=True, rgb_8bit=False, modality="MR") == ["zscore"]
    assert default_channel_names(1, is_volume=False, rgb_8bit=False, modality=None) == ["zscore"]


def test_channel_names_must_fit_the_images() -> None:
    assert channel_names_from_user("T1,T2", 2, Path("a.nii.gz")) == ["T1", "T2"]
    assert channel_names_from_user(None, 2, Path("a.nii.gz")) is None
    with pytest.raises(SvsegError, match=r"a\.png: images have 3 channel"):
        channel_names_from_user(["CT"], 3, Path("a.png"))


def test_build_dataset_json_has_nnunet_keys_and_provenance() -> None:
    content = build_dataset_json(name="X", channel_names=["CT"], label_names=["background", "liver"], num_training=4,
                                 file_ending=".nii.gz", svseg_info={"source": "/data"})
    assert content["channel_names"] == {"0": "CT"} and content["labels"] == {"background": 0, "liver": 1}
    assert content["numTraining"] == 4 and content["file_ending"] == ".nii.gz"
    assert content["svseg"]["source"] == "/data" and content["svseg"]["svseg_version"] == __version__
    assert declared_label_values({"background": 0, "whole": [1, 2], "core": 2}) == [0, 1, 2]
