"""svseg/planning/plans_safety.py: plans are data; every name nnU-Net resolves from them is allow-listed.

Positive: the plans the real planners write pass unchanged: nnU-Net's own ExperimentPlanner with
its 2d and 3d_fullres configurations here, svseg's for a PNG and a NIfTI dataset in the slow test
(and on every plan: SvsegPlanner runs parse_plans, hence this gate, on its own draft). Negative: every field
nnU-Net turns into code by name, edited to a hostile value, is refused with one line naming the
file and the field, before nnU-Net's resolvers see it.
"""

from __future__ import annotations

import copy
import json
import pydoc
from pathlib import Path
from typing import Any

import pytest
from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor
from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset, plan_experiment_dataset

from svseg.errors import SvsegError
from svseg.paths import export_nnunet_environment, preprocessed_root
from svseg.planning.fingerprint import AreaRatioFingerprintExtractor
from svseg.planning.planner import SvsegPlanner
from svseg.planning.plans import load_plans, parse_plans
from svseg.planning.plans_safety import (
    EXPERIMENT_PLANNERS,
    IMAGE_READER_WRITERS,
    NORMALIZATION_SCHEMES,
    check_plans_are_data,
)
from svseg.planning.presets import load_preset

from ..planned_roots import planning_root
from .conftest import write_nifti_dataset

PROBE = "torch.nn.functional.torch.os.system"
FILE = Path("/data/svsegPlans.json")


def _plan(dataset_id: int, folder: str, svseg: bool) -> dict[str, dict[str, Any]]:
    """nnU-Net's own ExperimentPlanner plans of one raw dataset (and svseg's if `svseg`), as written to disk."""
    export_nnunet_environment()
    extractor = AreaRatioFingerprintExtractor if svseg else DatasetFingerprintExtractor
    extract_fingerprint_dataset(dataset_id, extractor, num_processes=1, clean=False, verbose=False,
                                show_progress_bar=False)
    if svseg:
        SvsegPlanner(dataset_id, load_preset("cpu_quick")).plan_experiment()
    plan_experiment_dataset(dataset_id, overwrite_plans_name="nnUNetPlans")
    base = preprocessed_root() / folder
    return {name: json.loads((base / f"{name}.json").read_text(encoding="utf-8"))
            for name in ("svsegPlans", "nnUNetPlans") if (base / f"{name}.json").is_file()}


@pytest.fixture(scope="module")
def volume_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """nnU-Net's plans (2d and 3d_fullres) of the NIfTI dataset of conftest.py, planned once for this module."""
    home = tmp_path_factory.mktemp("plans_safety_home")
    with planning_root(home):
        write_nifti_dataset(home)
        return _plan(2, "Dataset002_Vol", svseg=False)["nnUNetPlans"]


def _passes_unchanged(plans: dict[str, Any]) -> None:
    before = copy.deepcopy(plans)
    check_plans_are_data(plans, FILE)
    assert plans == before


def test_nnunet_planner_plans_pass_unchanged(volume_plans: dict[str, Any]) -> None:
    """nnU-Net's own planner, 2D and 3D: what a plain nnU-Net model folder holds."""
    assert {"2d", "3d_fullres"} <= set(volume_plans["configurations"])
    assert volume_plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]["conv_op"] == (
        "torch.nn.modules.conv.Conv3d")
    _passes_unchanged(volume_plans)


@pytest.mark.slow
def test_svseg_planner_plans_pass_unchanged(png_dataset: Path, nifti_dataset: Path) -> None:
    """svseg's planner on a PNG and a volume dataset (its own draft check runs this gate on every plan too)."""
    for dataset_id, folder, reader in ((1, "Dataset001_Png", "NaturalImage2DIO"), (2, "Dataset002_Vol", "SimpleITKIO")):
        plans = _plan(dataset_id, folder, svseg=True)
        assert plans["svsegPlans"]["image_reader_writer"] == reader
        _passes_unchanged(plans["svsegPlans"])
        _passes_unchanged(plans["nnUNetPlans"])
        assert parse_plans(plans["svsegPlans"], FILE).network.name == "svanet_tiny"


def test_allow_lists_name_what_nnunet_finds() -> None:
    """Independent reference: each allowed name is found by nnU-Net's own resolvers (in nnunetv2 packages)."""
    from nnunetv2.imageio.reader_writer_registry import recursive_find_reader_writer_by_name
    from nnunetv2.preprocessing.normalization.default_normalization_schemes import ImageNormalization

    from svseg.planning import plans_safety

    for name in IMAGE_READER_WRITERS:
        assert recursive_find_reader_writer_by_name(name).__name__ == name
    for name in NORMALIZATION_SCHEMES:
        assert issubclass(pydoc.locate(f"nnunetv2.preprocessing.normalization.default_normalization_schemes.{name}"),
                          ImageNormalization)
    for name in plans_safety.RESAMPLING_FUNCTIONS:
        assert callable(pydoc.locate(f"nnunetv2.preprocessing.resampling.{_resampling_module(name)}.{name}"))
    assert SvsegPlanner.__name__ in EXPERIMENT_PLANNERS


def _resampling_module(name: str) -> str:
    return {"resample_data_or_seg_to_shape": "default_resampling", "resample_torch_fornnunet": "resample_torch",
            "no_resampling_hack": "no_resampling"}[name]


def _config(plans: dict[str, Any]) -> dict[str, Any]:
    return plans["configurations"]["3d_fullres"]


HOSTILE = {
    "image_reader_writer": (lambda p: p.update(image_reader_writer="os"), "image_reader_writer = 'os'"),
    "reader_chain": (lambda p: p.update(image_reader_writer="SimpleITKIO.__init__"), "image_reader_writer"),
    "label_manager": (lambda p: p.update(label_manager="load_json"), "label_manager"),
    "planner": (lambda p: p.update(experiment_planner_used=["ExperimentPlanner"]), "experiment_planner_used"),
    "preprocessor": (lambda p: _config(p).update(preprocessor_name="subprocess"),
                     "configurations['3d_fullres'].preprocessor_name"),
    "normalization": (lambda p: _config(p).update(normalization_schemes=["CTNormalization", "system"]),
                      "normalization_schemes[1] = 'system'"),
    "normalization_not_a_list": (lambda p: _config(p).update(normalization_schemes="CTNormalization"),
                                 "normalization_schemes must be a list"),
    "resampling_data": (lambda p: _config(p).update(resampling_fn_data="join"), "resampling_fn_data = 'join'"),
    "resampling_seg": (lambda p: _config(p).update(resampling_fn_seg=PROBE), "resampling_fn_seg"),
    "resampling_probabilities": (lambda p: _config(p).update(resampling_fn_probabilities="os.system"),
                                 "resampling_fn_probabilities"),
    "resampling_kwargs": (lambda p: _config(p).update(resampling_fn_seg_kwargs={"order": {"a": PROBE}}),
                          "resampling_fn_seg_kwargs.order"),
    "inherits_unknown": (lambda p: _config(p).update(inherits_from="nope"), "inherits_from = 'nope'"),
    "architecture": (lambda p: _config(p)["architecture"]["arch_kwargs"].update(nonlin=PROBE),
                     "configurations['3d_fullres'].architecture.arch_kwargs.nonlin"),
    "dunder_anywhere": (lambda p: p.update({"__reduce__": "os.system"}), "key '__reduce__'"),
    "configurations_missing": (lambda p: p.pop("configurations"), "'configurations' must be an object"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_fields_are_refused_naming_file_and_field(name: str, volume_plans: dict[str, Any]) -> None:
    edit, fragment = HOSTILE[name]
    plans = copy.deepcopy(volume_plans)
    edit(plans)
    with pytest.raises(SvsegError) as caught:
        check_plans_are_data(plans, FILE)
    message = str(caught.value)
    assert message.startswith(f"{FILE}: ") and fragment in message and "\n" not in message, message


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", print, float, (lambda: None)])
def test_non_json_values_are_refused(value: object) -> None:
    with pytest.raises(SvsegError, match=r"^/data/svsegPlans\.json: plans\.x: .* is not plain JSON$"):
        check_plans_are_data({"configurations": {}, "x": value}, FILE)
    with pytest.raises(SvsegError, match="must hold a JSON object"):
        check_plans_are_data([value], FILE)


def test_messages_stay_one_short_line() -> None:
    plans = {"configurations": {}, "image_reader_writer": "x\n" * 500}
    with pytest.raises(SvsegError) as caught:
        check_plans_are_data(plans, FILE)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 600


def test_parse_plans_and_load_plans_check_first(tmp_path: Path, volume_plans: dict[str, Any]) -> None:
    """Every svseg reader of a plans file goes through parse_plans, which runs the check before anything else."""
    plans = copy.deepcopy(volume_plans)
    plans["svseg"] = {"format_version": 1, "network": {"name": "unet"}}
    plans["configurations"]["2d"]["architecture"]["network_class_name"] = "os.system"
    path = tmp_path / "svsegPlans.json"
    path.write_text(json.dumps(plans), encoding="utf-8")
    with pytest.raises(SvsegError, match=rf"^{path}: configurations\['2d'\]\.architecture: network_class_name"):
        load_plans(path)
    with pytest.raises(SvsegError, match="a plans file must hold a JSON object"):
        parse_plans(None, path)
    path.write_text("[" * 100_000, encoding="utf-8")
    with pytest.raises(SvsegError, match="not valid JSON"):
        load_plans(path)
