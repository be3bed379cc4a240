"""``svseg predict`` on the command line: bad input is exit code 2, one line naming the file, no output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from svseg.cli import app

from .models import make_model_folder

runner = CliRunner()


def _scans(folder: Path, names=("a.png", "b.png")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        PILImage.fromarray((rng.random((40, 30)) * 255).astype(np.uint8)).save(folder / name)
    return folder


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _run(*args: str):
    return runner.invoke(app, ["predict", *args])


def test_predict_writes_masks_and_a_summary(planned: dict, tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "results", planned["png"], folds=("0", "1", "2"))
    scans = _scans(tmp_path / "scans")
    result = _run("-i", str(scans), "-o", str(tmp_path / "masks"), "-m", str(model), "-f", "0", "2", "--no-tta")
    assert result.exit_code == 0, result.output
    assert "wrote 2 mask(s)" in result.output and "folds 0, 2" in result.output
    assert _files_under(tmp_path / "masks") == ["a.png", "b.png"]
    again = _run("-i", str(scans / "a.png"), str(scans / "b.png"), "-o", str(tmp_path / "masks"), "-m", str(model))
    assert again.exit_code == 0, again.output
    assert "skipped 2 existing" in again.output


@pytest.mark.parametrize("problem", ["unreadable", "channels", "unknown_model", "empty", "output_is_input",
                                     "missing_file", "bad_fold"])
def test_bad_input_exits_2_names_the_file_and_writes_nothing(planned: dict, tmp_path: Path, problem: str) -> None:
    model = make_model_folder(tmp_path / "results", planned["png"])
    scans = _scans(tmp_path / "scans")
    out = tmp_path / "masks"
    args = ["-i", str(scans), "-o", str(out), "-m", str(model)]
    if problem == "unreadable":
        (scans / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        named = "broken.png"
    elif problem == "channels":  # true colour for a grey model (an equal-channel RGB image would be read as grey)
        colour = (np.random.default_rng(3).random((40, 30, 3)) * 255).astype(np.uint8)
        PILImage.fromarray(colour).save(scans / "colour.png")
        named = "colour.png: true-colour RGB (channels differ), but the model was trained on grey images"
    elif problem == "unknown_model":
        args = ["-i", str(scans), "-o", str(out), "-d", "NoSuchDataset"]
        named = "NoSuchDataset"
    elif problem == "empty":
        (tmp_path / "empty").mkdir()
        args = ["-i", str(tmp_path / "empty"), "-o", str(out), "-m", str(model)]
        named = "empty"
    elif problem == "output_is_input":
        args = ["-i", str(scans), "-o", str(scans), "-m", str(model)]
        out = scans
        named = "scans"
    elif problem == "missing_file":
        args = ["-i", str(scans / "a.png"), "-i", str(scans / "gone.png"), "-o", str(out), "-m", str(model)]
        named = "gone.png"
    else:
        args = [*args, "-f", "7"]
        named = "fold_7"
    before = _files_under(out)
    scans_before = {p: p.read_bytes() for p in scans.iterdir()}
    result = _run(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("svseg: error:") and named in lines[0], result.output
    assert _files_under(out) == before
    assert {p: p.read_bytes() for p in scans.iterdir()} == scans_before


def test_unknown_option_values_exit_2(tmp_path: Path) -> None:
    scans = _scans(tmp_path / "scans")
    for extra in (["--checkpoint", "middle"], ["--device", "tpu"], ["--batch-size", "0"]):
        result = _run("-i", str(scans), "-o", str(tmp_path / "m"), *extra)
        assert result.exit_code == 2, result.output
    assert not (tmp_path / "m").exists()


def _with_rule(model: Path, rule: dict) -> Path:
    """Record `rule` in the model's dataset.json, as svseg import writes it and nnU-Net copies it."""
    import json

    from svseg.utils.fs import atomic_write_json

    dataset_json = json.loads((model / "dataset.json").read_text(encoding="utf-8"))
    dataset_json["svseg"] = {"input_channels": rule}
    atomic_write_json(model / "dataset.json", dataset_json)
    return model


def test_equal_channel_rgb_inputs_of_a_grey_model_give_the_masks_of_their_grey_originals(planned: dict,
                                                                                       tmp_path: Path) -> None:
    grey_rule = {"dims": 2, "files_per_case": 1, "colour": "grey", "num_channels": 1, "needs_8bit": False,
                 "grey_from_rgb": True, "version": 1}
    model = _with_rule(make_model_folder(tmp_path / "results", planned["png"], seed=3), grey_rule)
    grey = _scans(tmp_path / "grey")
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    for name in ("a.png", "b.png"):
        PILImage.open(grey / name).convert("RGB").save(rgb / name)
    for folder in (grey, rgb):
        result = _run("-i", str(folder), "-o", str(tmp_path / f"masks_{folder.name}"), "-m", str(model))
        assert result.exit_code == 0, result.output
    for name in ("a.png", "b.png"):
        ours = np.asarray(PILImage.open(tmp_path / "masks_rgb" / name))
        assert ours.shape == (40, 30) and len(np.unique(ours)) > 1  # the random model does not see only background
        np.testing.assert_array_equal(ours, np.asarray(PILImage.open(tmp_path / "masks_grey" / name)))


def test_a_broken_recorded_rule_is_one_line_naming_the_models_dataset_json(planned: dict, tmp_path: Path) -> None:
    model = _with_rule(make_model_folder(tmp_path / "results", planned["png"]), {"colour": "grey", "shape": "x"})
    result = _run("-i", str(_scans(tmp_path / "scans")), "-o", str(tmp_path / "masks"), "-m", str(model))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{model / 'dataset.json'}: svseg.input_channels: unknown key(s) 'shape'" in lines[0]
    assert _files_under(tmp_path / "masks") == []
