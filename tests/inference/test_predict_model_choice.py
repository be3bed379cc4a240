"""``svseg predict`` on the command line: which model ``--arch`` reaches, and hostile or broken checkpoints.

Every failure here is exit code 2 with one line; a hostile checkpoint is named, never run, and no
mask is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from typer.testing import CliRunner

from svseg.cli import app
from svseg.utils.torch_files import load_torch_file

from .models import make_model_folder

runner = CliRunner()


class _Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _scans(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        PILImage.fromarray((rng.random((40, 30)) * 255).astype(np.uint8)).save(folder / name)
    return folder


def _one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize("checkpoint", ["final", "best", "latest"])
def test_a_hostile_checkpoint_exits_2_naming_it_and_never_runs(planned: dict, tmp_path: Path,
                                                               checkpoint: str) -> None:
    model = make_model_folder(tmp_path / "results", planned["png"], checkpoints=(checkpoint,))
    path = model / "fold_0" / f"checkpoint_{checkpoint}.pth"
    torch.save({**load_torch_file(path), "extra": _Payload(tmp_path / "MARKER")}, path)
    out = tmp_path / "masks"
    result = runner.invoke(app, ["predict", "-i", str(_scans(tmp_path / "scans")), "-o", str(out), "-m", str(model),
                                 "--checkpoint", checkpoint])
    assert result.exit_code == 2, result.output
    assert _one_line(result.output).startswith(f"svseg: error: {path}: refused: ")
    assert not (tmp_path / "MARKER").exists() and not out.exists()


@pytest.mark.parametrize(("problem", "expected"), [("truncated", "cannot be read"), ("folder", "is a folder"),
                                                   ("empty", "empty file")])
def test_a_broken_checkpoint_exits_2_naming_it(planned: dict, tmp_path: Path, problem: str, expected: str) -> None:
    model = make_model_folder(tmp_path / "results", planned["png"])
    path = model / "fold_0" / "checkpoint_final.pth"
    whole = path.read_bytes()
    path.unlink()
    if problem == "truncated":
        path.write_bytes(whole[: len(whole) // 3])
    elif problem == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"")
    out = tmp_path / "masks"
    result = runner.invoke(app, ["predict", "-i", str(_scans(tmp_path / "scans")), "-o", str(out), "-m", str(model)])
    assert result.exit_code == 2, result.output
    line = _one_line(result.output)
    assert line.startswith(f"svseg: error: {path}: ") and expected in line
    assert not out.exists()


def test_two_models_and_no_arch_exit_2_listing_both(planned: dict, tmp_path: Path, isolated_data_root: Path) -> None:
    results = isolated_data_root / "results"
    make_model_folder(results, planned["png"])
    make_model_folder(results, planned["png"], configuration="2d_svanet_tiny")
    scans = _scans(tmp_path / "scans")
    result = runner.invoke(app, ["predict", "-i", str(scans), "-o", str(tmp_path / "masks"), "-d", "951"])
    assert result.exit_code == 2, result.output
    text = _one_line(result.output)
    assert "--arch unet (Dataset951_Png/SvsegTrainer__svsegPlans__2d)" in text
    assert "--arch svanet_tiny (Dataset951_Png/SvsegTrainer__svsegPlans__2d_svanet_tiny)" in text
    chosen = runner.invoke(app, ["predict", "-i", str(scans), "-o", str(tmp_path / "masks"), "-d", "951",
                                 "--arch", "svanet_tiny"])
    assert chosen.exit_code == 0, chosen.output
    assert "SvsegTrainer__svsegPlans__2d_svanet_tiny" in chosen.output
