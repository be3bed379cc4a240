"""``--arch NAME`` reaches one model in train, predict and compare, also when NAME is the plan's own network.

The training fixtures plan the PNG dataset and then swap the plan's network for a small ``unet``
(conftest.py), so ``--arch unet`` names the plan's own network here: the case a real user hit
with ``--preset cpu_quick`` (plan network ``svanet_tiny``) and ``--arch svanet_tiny``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

import svseg.training.api
from svseg.cli import app
from svseg.comparison.api import compare_architectures
from svseg.errors import SvsegError
from svseg.inference.model_loading import model_arch
from svseg.training.api import train

runner = CliRunner()


def test_arch_naming_the_plans_network_trains_predicts_and_compares_under_that_name(
        data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    named = train("Disks", 0, arch="unet", device="cpu", epochs=1, iters_per_epoch=2)
    assert named.model_dir.name == "SvsegTrainer__svsegPlans__2d"  # nnU-Net's folder scheme, unchanged
    assert model_arch(named.model_dir) == "unet"
    with pytest.raises(SvsegError, match="already trained") as info:
        train("Disks", 0, device="cpu")  # without --arch: the plan's network, the same fold folder
    assert str(info.value).startswith(str(named.fold_dir))

    scans = data_root / "raw" / "Dataset811_Disks" / "imagesTr"
    out = data_root / "masks"
    result = runner.invoke(app, ["predict", "-i", str(scans / "disk_003_0000.png"), "-o", str(out), "-d", "Disks",
                                 "--arch", "unet", "-f", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert str(named.model_dir) in result.output
    assert PILImage.open(out / "disk_003_0000.png").size == PILImage.open(scans / "disk_003_0000.png").size

    unknown = runner.invoke(app, ["predict", "-i", str(scans), "-o", str(out), "-d", "Disks", "--arch", "nope"])
    assert unknown.exit_code == 2
    assert "unknown architecture 'nope'" in unknown.output and len(unknown.output.strip().splitlines()) == 1

    monkeypatch.setattr(svseg.training.api, "train", lambda *args, **kwargs: named)  # compare reuses this model
    compared = compare_architectures("Disks", 0, "unet", device="cpu", out_dir=data_root / "comparison")
    assert [row.model_dir for row in compared.rows] == [named.model_dir]
    table = json.loads(compared.json_path.read_text(encoding="utf-8"))
    assert json.dumps(table).count(str(named.model_dir)) >= 1
