"""No code runs from a plans file: hostile plans stop ``svseg train`` and ``svseg predict -m`` at exit 2.

Each hostile edit is one a probe (or nnU-Net's by-name lookups) could turn into code: nnU-Net's
``pydoc.locate`` follows ``torch.nn.functional.torch.os.system`` to ``os.system``, and PlainConvUNet
then calls ``nonlin(**nonlin_kwargs)``, i.e. ``os.system(command="touch MARKER")``. Every edit must
give one ``svseg: error:`` line naming the plans file and the field, leave no marker file, and
reach none of nnU-Net's resolvers (``pydoc.locate`` and the module search behind
``recursive_find_python_class`` are spied on).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from svseg.cli import app

from ..resolver_spy import spy_on_name_resolvers
from .conftest import DATASET

runner = CliRunner()
PROBE = "torch.nn.functional.torch.os.system"

Edit = Callable[[dict[str, Any], Path], None]


def _config(plans: dict[str, Any]) -> dict[str, Any]:
    return plans["configurations"]["2d"]


def _kwargs(plans: dict[str, Any]) -> dict[str, Any]:
    return _config(plans)["architecture"]["arch_kwargs"]


def _touch(marker: Path) -> dict[str, str]:
    return {"command": f"touch {marker}"}


def _deep(depth: int) -> Any:
    value: Any = 3
    for _ in range(depth):
        value = [value]
    return value


# id -> (edit of the plans dict, the field the one-line message must name)
HOSTILE: dict[str, tuple[Edit, str]] = {
    "probe_functional_os_system": (
        lambda p, m: _kwargs(p).update(nonlin=PROBE, nonlin_kwargs=_touch(m)), "arch_kwargs.nonlin"),
    "conv_module_chain": (
        lambda p, m: _kwargs(p).update(conv_op="torch.nn.modules.conv.torch.os.system", conv_op_kwargs=None,
                                       nonlin_kwargs=_touch(m)), "arch_kwargs.conv_op"),
    "init_chain": (
        lambda p, m: _kwargs(p).update(norm_op="torch.nn.init.os.system", norm_op_kwargs=_touch(m)),
        "arch_kwargs.norm_op"),
    "builtins_exec": (
        lambda p, m: _kwargs(p).update(nonlin="builtins.exec", nonlin_kwargs={"source": f"open('{m}', 'w')"}),
        "arch_kwargs.nonlin"),
    "os_system": (lambda p, m: _kwargs(p).update(nonlin="os.system", nonlin_kwargs=_touch(m)), "arch_kwargs.nonlin"),
    "subprocess_call": (
        lambda p, m: _kwargs(p).update(nonlin="subprocess.call", nonlin_kwargs={"args": ["touch", str(m)]}),
        "arch_kwargs.nonlin"),
    "dunder_subclasses": (
        lambda p, m: _config(p)["architecture"].update(network_class_name="torch.nn.Module.__subclasses__"),
        "network_class_name"),
    "dunder_import": (lambda p, m: _kwargs(p).update(nonlin="__import__", nonlin_kwargs={"name": "os"}),
                      "arch_kwargs.nonlin"),
    "unregistered_class": (
        lambda p, m: _config(p)["architecture"].update(
            network_class_name="dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"),
        "network_class_name"),
    "hostile_requires_import": (
        lambda p, m: (_config(p)["architecture"]["_kw_requires_import"].append("conv_bias"),
                      _kwargs(p).update(conv_bias="os.system")),
        "_kw_requires_import"),
    "nested_kwargs": (
        lambda p, m: _kwargs(p).update(nonlin_kwargs={"a": {"b": PROBE}}), "arch_kwargs.nonlin_kwargs.a"),
    "dunder_key": (lambda p, m: _kwargs(p).update({"__class__": PROBE}), "key '__class__'"),
    "deep_nesting": (lambda p, m: _kwargs(p).update(kernel_sizes=_deep(40)), "arch_kwargs.kernel_sizes"),
    "other_configuration": (
        lambda p, m: p["configurations"].update(
            {"2d_x": {"inherits_from": "2d", "architecture": {**_config(p)["architecture"],
                                                              "network_class_name": "os.system"}}}),
        "configurations['2d_x'].architecture"),
    "image_reader_writer": (lambda p, m: p.update(image_reader_writer="os"), "image_reader_writer"),
    "label_manager": (lambda p, m: p.update(label_manager="load_json"), "label_manager"),
    "experiment_planner": (lambda p, m: p.update(experiment_planner_used="subprocess"), "experiment_planner_used"),
    "preprocessor_name": (lambda p, m: _config(p).update(preprocessor_name="os"), "preprocessor_name"),
    "normalization_schemes": (lambda p, m: _config(p).update(normalization_schemes=["system"]),
                              "normalization_schemes[0]"),
    "resampling_fn": (lambda p, m: _config(p).update(resampling_fn_probabilities="join"),
                      "resampling_fn_probabilities"),
    "resampling_kwargs": (lambda p, m: _config(p).update(resampling_fn_data_kwargs={"order": {"b": PROBE}}),
                          "resampling_fn_data_kwargs.order"),
}


@pytest.fixture
def resolver_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name handed to ``pydoc.locate`` or nnU-Net's module search while the test runs."""
    return spy_on_name_resolvers(monkeypatch)


def _edit(path: Path, edit: Edit, marker: Path, key: str | None = None) -> None:
    """Apply `edit` to the plans in JSON file `path` (to ``data[key]`` when the plans sit under a key)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data[key] if key else data, marker)
    path.write_text(json.dumps(data), encoding="utf-8")


def _refused(args: list[str], plans_file: Path, field: str, marker: Path, calls: list[str]) -> None:
    """One error line naming the file and the field, exit 2, no marker, no name resolved."""
    result = runner.invoke(app, args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("svseg: error:"), result.output
    assert str(plans_file) in lines[0] and field in lines[0], lines[0]
    assert not marker.exists()
    assert calls == []


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_train_refuses_hostile_plans(name: str, disks_root: Path, tmp_path: Path, resolver_calls: list[str]) -> None:
    edit, field = HOSTILE[name]
    plans_file = disks_root / "preprocessed" / DATASET / "svsegPlans.json"
    marker = tmp_path / "MARKER"
    _edit(plans_file, edit, marker)
    _refused(["train", "-d", DATASET, "-f", "0", "--device", "cpu"], plans_file, field, marker, resolver_calls)
    assert not any((disks_root / "results").iterdir())


def test_train_accepts_the_unedited_plans(disks_root: Path) -> None:
    """Control: the unedited plans load, and the same command gets past them (to the recipe check)."""
    from svseg.planning.plans import load_plans

    plans_file = disks_root / "preprocessed" / DATASET / "svsegPlans.json"
    assert load_plans(plans_file).network.name == "unet"
    result = runner.invoke(app, ["train", "-d", DATASET, "-f", "0", "--device", "cpu", "--epochs", "0"])
    assert result.exit_code == 2 and "recipe.epochs" in result.output, result.output


@pytest.mark.parametrize("name", ["probe_functional_os_system", "subprocess_call", "image_reader_writer"])
def test_train_continue_refuses_a_hostile_run_record(name: str, disks_root: Path, tmp_path: Path,
                                                     resolver_calls: list[str]) -> None:
    """``--continue`` reads the run's plans from ``svseg_run.json`` in the fold folder: same gate."""
    edit, field = HOSTILE[name]
    plans = json.loads((disks_root / "preprocessed" / DATASET / "svsegPlans.json").read_text(encoding="utf-8"))
    fold = disks_root / "results" / DATASET / "SvsegTrainer__svsegPlans__2d" / "fold_0"
    fold.mkdir(parents=True)
    (fold / "checkpoint_latest.pth").write_bytes(b"only found, never read before the record")
    record = fold / "svseg_run.json"
    record.write_text(json.dumps({"configuration": "2d", "fold": 0, "plans": plans}), encoding="utf-8")
    marker = tmp_path / "MARKER"
    _edit(record, edit, marker, key="plans")
    _refused(["train", "-d", DATASET, "-f", "0", "--device", "cpu", "--continue"], record, field, marker,
             resolver_calls)


def _scans(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        PILImage.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(folder / name)
    return folder


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_predict_refuses_hostile_plans(name: str, model_dir: Path, tmp_path: Path,
                                       resolver_calls: list[str]) -> None:
    edit, field = HOSTILE[name]
    marker = tmp_path / "MARKER"
    _edit(model_dir / "plans.json", edit, marker)
    out = tmp_path / "masks"
    args = ["predict", "-i", str(_scans(tmp_path / "scans")), "-o", str(out), "-m", str(model_dir), "--device", "cpu"]
    _refused(args, model_dir / "plans.json", field, marker, resolver_calls)
    assert not out.exists()


def test_predict_accepts_the_unedited_model(model_dir: Path, tmp_path: Path) -> None:
    """Control: the same model folder, unedited, predicts."""
    out = tmp_path / "masks"
    args = ["predict", "-i", str(_scans(tmp_path / "scans")), "-o", str(out), "-m", str(model_dir), "--device", "cpu",
            "--no-tta"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
