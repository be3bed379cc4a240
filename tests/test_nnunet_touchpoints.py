"""Each nnU-Net touch point of svseg/nnunet_touchpoints.py against the installed nnU-Net.

A failure here means the installed nnU-Net changed something svseg relies on: the message names
the touch point. Read docs/design/nnunet-integration.md ("Upgrading nnU-Net") before changing the
pin in pyproject.toml.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import svseg.nnunet_ext
from svseg import nnunet_touchpoints as tp
from svseg.inference.predictor import SvsegPredictor
from svseg.planning.fingerprint import AreaRatioFingerprintExtractor
from svseg.planning.planner import SvsegPlanner
from svseg.training.lsnet_trainer import LSNetTrainer
from svseg.training.run_plans import svseg_trainers
from svseg.training.trainer import SvsegTrainer

REPO = Path(__file__).resolve().parents[1]
SVSEG_SUBCLASSES = (SvsegPredictor, SvsegTrainer, LSNetTrainer, SvsegPlanner, AreaRatioFingerprintExtractor)
SVSEG_CONSTRUCTED = (SvsegPredictor, SvsegPlanner)


def test_the_installed_nnunet_is_a_tested_release_and_the_pin_allows_only_those() -> None:
    installed = version("nnunetv2")
    assert installed in tp.TESTED_NNUNET_VERSIONS, f"nnunetv2 {installed} is not among {tp.TESTED_NNUNET_VERSIONS}"
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    pins = re.findall(r'"nnunetv2([^"]*)"', text)
    assert pins == [f"=={tp.TESTED_NNUNET_VERSIONS[0]}"] if len(tp.TESTED_NNUNET_VERSIONS) == 1 else pins, pins


@pytest.mark.parametrize("method", tp.METHODS, ids=lambda m: f"{m.owner.rpartition(':')[2]}.{m.name}")
def test_each_method_svseg_relies_on_exists_with_the_same_parameters(method: tp.Method) -> None:
    problem = tp.method_problem(method)
    assert problem is None, problem


@pytest.mark.parametrize("cls", SVSEG_SUBCLASSES, ids=lambda c: c.__name__)
def test_every_nnunet_method_svseg_overrides_is_a_listed_touch_point(cls: type) -> None:
    """An override of an nnU-Net method that is not in METHODS would escape the checks above."""
    listed = {(method.owner, method.name) for method in tp.METHODS}
    nnunet_bases = [base for base in cls.__mro__ if base.__module__.startswith("nnunetv2.")]
    for klass in cls.__mro__:
        if klass.__module__.startswith("nnunetv2.") or klass is object:
            continue
        for name in vars(klass):
            if name == "__init__" and cls in SVSEG_CONSTRUCTED:
                continue  # svseg builds these itself; nnU-Net never calls their constructor
            for base in nnunet_bases:
                if name in vars(base) and callable(getattr(base, name)) and name not in ("__init_subclass__",):
                    owner = f"{base.__module__}:{base.__name__}"
                    assert (owner, name) in listed, f"{klass.__name__}.{name} overrides {owner} but is not in METHODS"


def test_check_overrides_refuses_a_method_nnunet_no_longer_has(monkeypatch: pytest.MonkeyPatch) -> None:
    gone = tp.Method(tp.PREDICTOR, "_internal_predict_sliding_window_return_logits_v2", ("self",), "a rename")
    monkeypatch.setattr(tp, "METHODS", (gone,))

    class Renamed(SvsegPredictor):
        def _internal_predict_sliding_window_return_logits_v2(self) -> None:
            return None

    with pytest.raises(tp.NnunetChanged, match="_internal_predict_sliding_window_return_logits_v2 is gone"):
        tp.check_overrides(Renamed)


def test_check_overrides_refuses_an_override_with_other_parameters() -> None:
    class Narrow(SvsegPredictor):
        def _internal_maybe_mirror_and_predict(self, x, extra):  # type: ignore[override]
            return x

    with pytest.raises(tp.NnunetChanged, match="_internal_maybe_mirror_and_predict takes"):
        tp.check_overrides(Narrow)


def test_the_trainer_sets_the_private_attributes_svseg_saves_and_restores() -> None:
    source = inspect.getsource(tp.resolve(tp.TRAINER).__init__)
    for name in tp.TRAINER_PRIVATE_ATTRIBUTES:
        assert re.search(rf"self\.{name}\s*=", source), f"nnUNetTrainer.__init__ no longer sets {name}"


def test_the_split_is_five_seeded_folds_in_splits_final_json() -> None:
    source = inspect.getsource(tp.resolve(tp.TRAINER).do_split)
    assert f"seed={tp.SPLIT_SEED}" in source and f"n_splits={tp.NNUNET_FOLDS}" in source, "nnU-Net's split changed"
    assert f"'{tp.SPLITS_FILE}'" in source or f'"{tp.SPLITS_FILE}"' in source, "nnU-Net's split file changed"
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    cases = [f"case_{i:02d}" for i in range(12)]
    splits = generate_crossval_split(cases, seed=tp.SPLIT_SEED, n_splits=tp.NNUNET_FOLDS)
    assert len(splits) == tp.NNUNET_FOLDS
    assert sorted(case for split in splits for case in split["val"]) == cases


def test_path_variables_are_read_when_used_not_when_imported(tmp_path: Path) -> None:
    """svseg sets them after nnU-Net is imported: every nnU-Net module must see the new values."""
    script = f"""
import json, os, sys
import nnunetv2.experiment_planning.plan_and_preprocess_api, nnunetv2.inference.predict_from_raw_data
import nnunetv2.training.nnUNetTrainer.nnUNetTrainer, nnunetv2.utilities.dataset_name_id_conversion
names = {json.dumps(list(tp.PATH_VARIABLES.values()))}
for name in names:
    os.environ[name] = "/set/after/import/" + name
stale = []
for module_name, module in sorted(sys.modules.items()):
    if module_name.startswith("nnunetv2") and module is not None:
        for name in names:
            if hasattr(module, name) and os.fspath(getattr(module, name)) != os.environ[name]:
                stale.append(module_name + "." + name)
print(json.dumps(stale))
"""
    env = {key: value for key, value in os.environ.items() if key not in tp.PATH_VARIABLES.values()}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                          check=True)
    stale = json.loads(done.stdout.strip().splitlines()[-1])
    assert stale == [], f"nnU-Net read these path variables at import time: {stale}"


def test_the_pool_size_variable_is_read_when_nnunet_configuration_is_imported() -> None:
    script = "import nnunetv2.configuration as c; print(c.default_num_processes)"
    env = {**os.environ, tp.DEFAULT_PROCESSES_VARIABLE: "3"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                          check=True)
    assert done.stdout.strip().splitlines()[-1] == "3"


def test_the_augmentation_workers_variable_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from nnunetv2.utilities.default_n_proc_DA import get_allowed_n_proc_DA

    monkeypatch.setenv(tp.AUGMENTATION_PROCESSES_VARIABLE, "0")
    assert get_allowed_n_proc_DA() == 0
    monkeypatch.setenv(tp.AUGMENTATION_PROCESSES_VARIABLE, "1")
    assert get_allowed_n_proc_DA() == 1  # nnU-Net caps the value at the CPU count, so only 0 and 1 are portable


def test_the_compile_variable_is_read_by_the_trainer_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_do_i_compile`` on a CUDA device reads the variable (no GPU needed: only the device is compared)."""
    trainer = SimpleNamespace(device=torch.device("cuda"), print_to_log_file=lambda *args, **kwargs: None)
    do_i_compile = tp.resolve(tp.TRAINER)._do_i_compile
    monkeypatch.setenv(tp.COMPILE_VARIABLE, "f")
    assert do_i_compile(trainer) is False
    monkeypatch.setenv(tp.COMPILE_VARIABLE, "t")
    assert do_i_compile(trainer) is True


def test_nnunet_finds_svsegs_trainers_through_the_ext_folder_and_only_there(monkeypatch: pytest.MonkeyPatch) -> None:
    lookup = tp.resolve(tp.TRAINER_LOOKUP)
    monkeypatch.setenv(tp.EXT_TRAINER_VARIABLE, str(svseg.nnunet_ext.EXT_TRAINER_DIR))
    for name, cls in svseg_trainers().items():
        assert lookup(name) is cls
    monkeypatch.delenv(tp.EXT_TRAINER_VARIABLE)
    with pytest.raises(RuntimeError, match="SvsegTrainer"):
        lookup("SvsegTrainer")


def test_the_ext_folder_exports_exactly_svsegs_trainers() -> None:
    from svseg.nnunet_ext.svseg_trainers import trainers

    assert {name: getattr(trainers, name) for name in trainers.__all__} == svseg_trainers()


def test_plans_manager_reads_plans_as_svseg_writes_them() -> None:
    plans = {
        "dataset_name": "Dataset001_X", "plans_name": "svsegPlans", "original_median_spacing_after_transp": [1, 1, 1],
        "original_median_shape_after_transp": [1, 64, 64], "image_reader_writer": "NaturalImage2DIO",
        "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2], "experiment_planner_used": "SvsegPlanner",
        "label_manager": "LabelManager", "foreground_intensity_properties_per_channel": {},
        "configurations": {"2d": {"data_identifier": "svsegPlans_2d", "preprocessor_name": "DefaultPreprocessor",
                                  "batch_size": 2, "patch_size": [64, 64], "spacing": [1.0, 1.0],
                                  "architecture": {"network_class_name": "x.Y", "arch_kwargs": {},
                                                   "_kw_requires_import": []}},
                           "2d_unet": {"inherits_from": "2d", "batch_size": 4}},
    }
    manager = tp.plans_manager(plans)
    child = manager.get_configuration("2d_unet")
    assert (child.data_identifier, child.batch_size, list(child.patch_size)) == ("svsegPlans_2d", 4, [64, 64])
    assert manager.image_reader_writer_class.__name__ == "NaturalImage2DIO"
    labels = manager.get_label_manager({"labels": {"background": 0, "object": 1}})
    assert labels.num_segmentation_heads == 2


def test_sample_foreground_locations_keys_and_coordinates() -> None:
    seg = np.zeros((1, 1, 8, 8), dtype=np.int16)
    seg[0, 0, 2:4, 5:7] = 1
    locations = tp.sample_foreground_locations(seg, [1], seed=0)
    assert set(locations) == {1}
    coordinates = np.asarray(locations[1])
    assert coordinates.shape == (4, 4)  # (channel, z, y, x) of each of the 4 foreground voxels
    assert {tuple(c[2:]) for c in coordinates} == {(2, 5), (2, 6), (3, 5), (3, 6)}
