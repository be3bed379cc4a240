"""The loose ends of issue 15: nnU-Net's own entry points, deep JSON, symlink loops, C-level and library chatter.

- nnU-Net's ``nnUNetv2_train ... -tr SvsegTrainer`` builds the trainer from the preprocessed plans
  and dataset.json itself: SvsegTrainer checks both as data before nnU-Net's constructor runs.
- nnU-Net's fingerprint extractor and planner read ``overwrite_image_reader_writer`` from the raw
  dataset.json and look it up by name: svseg's subclasses refuse a name outside nnU-Net's readers.
- A truncated MetaImage is refused before ITK's MetaIO writes to the process's own stderr.
- Other libraries' info messages (numexpr's thread count) stay off the terminal unless ``-v``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from svseg.errors import SvsegError

from ..resolver_spy import spy_on_name_resolvers
from . import files
from .conftest import DATASET, MODEL
from .refusal import Case, assert_refused, runner, snapshot

PROBE = "torch.nn.functional.torch.os.system"


@pytest.fixture
def looked_up(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name handed to ``pydoc.locate`` or nnU-Net's module search while the test runs."""
    return spy_on_name_resolvers(monkeypatch)


def _edit(path: Path, change) -> Path:
    content = json.loads(path.read_text(encoding="utf-8"))
    change(content)
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def _nnunet_trainer(home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """nnU-Net's own ``nnUNetv2_train`` path: find SvsegTrainer by name, build it from the preprocessed files."""
    from nnunetv2.run.run_training import get_trainer_from_args

    import svseg.nnunet_ext
    from svseg.paths import export_nnunet_environment

    export_nnunet_environment()
    monkeypatch.setenv("nnUNet_extTrainer", str(svseg.nnunet_ext.EXT_TRAINER_DIR))
    return get_trainer_from_args(DATASET, "2d", 0, "SvsegTrainer", "svsegPlans", device=torch.device("cpu"))


def test_nnunet_train_with_svseg_trainer_refuses_hostile_plans(home: Path, tmp_path: Path, looked_up: list[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "MARKER"
    plans = _edit(home / "preprocessed" / DATASET / "svsegPlans.json",
                  lambda p: p["configurations"]["2d"]["architecture"]["arch_kwargs"].update(
                      nonlin=PROBE, nonlin_kwargs={"command": f"touch {marker}"}))
    before = snapshot(home)
    with pytest.raises(SvsegError, match=r"svsegPlans\.json: .*arch_kwargs\.nonlin") as refused:
        _nnunet_trainer(home, monkeypatch)
    assert str(Path(DATASET) / plans.name) in str(refused.value)
    assert not marker.exists()
    assert set(looked_up) <= {"SvsegTrainer"}  # nnU-Net found the trainer by name; nothing from the plans
    assert snapshot(home) == before  # refused before nnU-Net's constructor made its log


def test_nnunet_train_with_svseg_trainer_refuses_a_hostile_reader(home: Path, looked_up: list[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _edit(home / "preprocessed" / DATASET / "dataset.json", lambda d: d.update(overwrite_image_reader_writer="os"))
    with pytest.raises(SvsegError, match=r"dataset\.json: overwrite_image_reader_writer = 'os'"):
        _nnunet_trainer(home, monkeypatch)
    assert set(looked_up) <= {"SvsegTrainer"}


def test_nnunet_train_with_svseg_trainer_builds_from_unedited_files(home: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: the same call with the planned files gives the trainer."""
    from svseg.training.trainer import SvsegTrainer

    assert isinstance(_nnunet_trainer(home, monkeypatch), SvsegTrainer)


@pytest.mark.parametrize("value", ["load_json", "os", None, ["NaturalImage2DIO"], "torch.nn.functional.torch.os"])
def test_fingerprint_and_planner_refuse_a_reader_nnunet_would_look_up(value: Any, home: Path, looked_up: list[str]
                                                                      ) -> None:
    """nnU-Net's own classes, as svseg subclasses them, never look up a name outside nnU-Net's readers."""
    from svseg.paths import export_nnunet_environment
    from svseg.planning.fingerprint import AreaRatioFingerprintExtractor
    from svseg.planning.planner import SvsegPlanner
    from svseg.planning.presets import load_preset

    export_nnunet_environment()
    dataset_json = _edit(home / "raw" / DATASET / "dataset.json",
                         lambda d: d.update(overwrite_image_reader_writer=value))
    with pytest.raises(SvsegError, match="overwrite_image_reader_writer") as refused:
        AreaRatioFingerprintExtractor(DATASET, 1, False).run()
    assert str(dataset_json) in str(refused.value)
    with pytest.raises(SvsegError, match="overwrite_image_reader_writer"):
        SvsegPlanner(DATASET, load_preset("cpu_quick"))
    assert looked_up == []


@pytest.mark.parametrize("value", ["NaturalImage2DIO", "None"])
def test_nnunet_reader_names_pass(value: str) -> None:
    from svseg.io.dataset_json_safety import check_dataset_json_is_data

    check_dataset_json_is_data({"overwrite_image_reader_writer": value, "file_ending": ".png"}, "dataset.json")


def test_a_model_folder_with_deeply_nested_json_is_one_line(home: Path) -> None:
    from svseg.inference.model_loading import load_model

    dataset_json = home / MODEL / "dataset.json"
    dataset_json.write_text("{\"labels\": " + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    with pytest.raises(SvsegError, match="not valid JSON") as refused:
        load_model(home / MODEL, None)
    assert str(dataset_json) in str(refused.value)


def test_a_truncated_metaimage_is_refused_before_itk_writes_to_stderr(home: Path, tmp_path: Path,
                                                                      capfd: pytest.CaptureFixture) -> None:
    source = tmp_path / "src"
    for index in range(3):
        files.volume(source / "images" / f"v{index}.mha", files.box_volume(index))
        files.volume(source / "labels" / f"v{index}.mha", files.box_mask())
    broken = files.truncate(source / "images" / "v1.mha", 0.8)
    capfd.readouterr()
    line = assert_refused(Case(["import", "-i", str(source), "-n", "Meta"], (str(broken), "truncated")),
                          home, tmp_path)
    assert "truncated MetaImage" in line
    leaked = capfd.readouterr()
    assert "M_ReadElementsData" not in leaked.err + leaked.out


def test_a_metaimage_header_whose_data_file_is_gone_is_named(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "src"
    for index in range(2):
        files.volume(source / "images" / f"v{index}.mhd", files.box_volume(index))
        files.volume(source / "labels" / f"v{index}.nii.gz", files.box_mask())
    (source / "images" / "v0.raw").unlink()
    assert_refused(Case(["import", "-i", str(source), "-n", "Meta"], (str(source / "images" / "v0.raw"),)),
                   home, tmp_path)


@pytest.mark.parametrize("verbose", [False, True])
def test_other_libraries_info_messages_need_verbose(verbose: bool) -> None:
    """The CLI's logging: svseg's info always (unless -q), another library's only with -v."""
    from svseg.cli import app

    @app.command("log-probe", hidden=True)
    def probe() -> None:  # a command that only logs, as a library does when imported
        logging.getLogger("numexpr.utils").info("NumExpr defaulting to 2 threads.")
        logging.getLogger("svseg.probe").info("svseg info")

    try:
        result = runner.invoke(app, [*(["-v"] if verbose else []), "log-probe"])
    finally:
        app.registered_commands.pop()
    assert result.exit_code == 0, result.output
    assert "svseg info" in result.stderr
    assert ("NumExpr" in result.stderr) is verbose


def test_a_failing_predict_prints_only_its_error_line(home: Path, tmp_path: Path) -> None:
    """A real process (library imports happen once per process): the refusal is the only line on the terminal."""
    scans = files.scans(tmp_path / "scans")
    (home / MODEL / "plans.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    env = {**os.environ, "SVSEG_HOME": str(home)}
    env.pop("NUMEXPR_MAX_THREADS", None)
    env.pop("SVSEG_QUIET", None)
    done = subprocess.run([sys.executable, "-m", "svseg.cli", "predict", "-i", str(scans), "-o", str(tmp_path / "out"),
                           "-d", "Disks", "--device", "cpu"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        f"svseg: error: {home / MODEL / 'plans.json'}: not valid JSON (maximum recursion depth exceeded while "
        "decoding a JSON array from a unicode string)"]
