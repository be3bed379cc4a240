"""The svseg experiment planner: nnU-Net's ExperimentPlanner, steered by the area-ratio fingerprint.

:class:`SvsegPlanner` subclasses nnU-Net's default ``ExperimentPlanner`` and overrides three
hooks, leaving the rest of nnU-Net's planning (transpose, normalisation, resampling, PlainConvUNet
topology and memory heuristic) as it is:

- ``determine_fullres_target_spacing``: nnU-Net's median spacing, with the in-plane axes refined
  when the small-object percentile would fall below a minimum pixel count. Transpose and the 2d
  configuration's spacing both derive from this, so the decision reaches every place nnU-Net
  reads it. The slicing axis stays the one the fingerprint used.
- ``get_plans_for_configuration``: for ``2d``, nnU-Net sizes patch and batch for its
  PlainConvUNet first; svseg then sets patch (whole slice where memory allows, multiple of 32)
  and batch from its memory model and replaces the architecture block with the preset's network
  (``svseg.networks.architecture_block``). 3D configurations are not used by svseg, so they get
  a cheap placeholder (patch = median shape, which also stops nnU-Net's 3d_lowres search) that
  ``save_plans`` drops.
- ``save_plans``: writes ``svsegPlans.json`` atomically with only the 2d configuration (plus any
  custom configurations an earlier file held, as nnU-Net does) and the validated ``svseg``
  section: preset, network, recipe, strata and the decisions with their reasons, plus the
  amplification section (per-unit areas at the 2d target spacing, each fold's N1/N2, tiers and
  weights; svseg/planning/amplification.py) when a mode other than ``off`` is asked for.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
from nnunetv2.utilities.json_export import recursive_fix_for_json_export
from nnunetv2.utilities.label_handling.label_handling import LabelManager

from svseg.errors import SvsegError
from svseg.io.dataset_json_safety import check_dataset_json_is_data
from svseg.networks import architecture_block
from svseg.nnunet_touchpoints import check_overrides
from svseg.paths import preprocessed_root
from svseg.planning import amplification as amp
from svseg.planning import decisions as rules
from svseg.planning.decisions import Decision
from svseg.planning.fingerprint import SECTION
from svseg.planning.memory import TrainingMemoryModel
from svseg.planning.plans import CONFIGURATION, FORMAT_VERSION, PLANS_NAME, parse_plans
from svseg.planning.presets import Preset
from svseg.utils.fs import atomic_write_json

log = logging.getLogger(__name__)

_NNUNET_3D = ("3d_fullres", "3d_lowres", "3d_cascade_fullres")


@check_overrides
class SvsegPlanner(ExperimentPlanner):
    """Plans the 2d configuration with the preset's network, recording each decision and its reason."""

    def __init__(self, dataset_name_or_id: str | int, preset: Preset, gpu_memory_gb: float | None = None,
                 plans_name: str = PLANS_NAME, amplification: str = "off") -> None:
        self.preset = preset
        self.amplification = amp.check_mode(amplification)
        self.gpu_memory_gb = float(gpu_memory_gb or preset.planning.gpu_memory_gb)
        super().__init__(dataset_name_or_id, gpu_memory_target_in_gb=self.gpu_memory_gb,
                         preprocessor_name="DefaultPreprocessor", plans_name=plans_name)
        check_dataset_json_is_data(self.dataset_json, Path(self.raw_dataset_folder) / "dataset.json")
        section = self.dataset_fingerprint.get(SECTION)
        if not isinstance(section, dict):
            raise SvsegError(f"{self.dataset_name}: the fingerprint has no svseg section; re-run plan-and-preprocess")
        self.area_stats: dict[str, Any] = section
        self.decisions: dict[str, Decision] = {}
        self._spacing: np.ndarray | None = None

    def determine_fullres_target_spacing(self) -> np.ndarray:
        """nnU-Net's target spacing with the in-plane axes refined for small objects (decided once)."""
        if self._spacing is None:
            target = np.array(super().determine_fullres_target_spacing(), dtype=np.float64)
            slice_axis = int(np.argmax(target))
            if slice_axis != self.area_stats["slice_axis"]:
                raise RuntimeError(f"fingerprint sliced along axis {self.area_stats['slice_axis']}, "
                                   f"nnU-Net's 2d configuration along {slice_axis}")
            in_plane = [axis for axis in range(len(target)) if axis != slice_axis]
            key = f"p{self.preset.planning.object_percentile:02d}"
            area_mm2 = self.area_stats["summary"]["all_classes"]["area_mm2"][key]
            decision = rules.decide_spacing(target[in_plane], area_mm2, self.preset.planning)
            self.decisions["spacing"] = decision
            target[in_plane] = decision.value
            self._spacing = target
        return self._spacing.copy()

    def get_plans_for_configuration(self, spacing, median_shape, data_identifier: str,
                                    approximate_n_voxels_dataset: float, _cache: dict) -> dict:
        """nnU-Net's 2d plan with svseg's patch, batch and network; a placeholder for 3D."""
        if not data_identifier.endswith(f"_{CONFIGURATION}"):
            return {"patch_size": [round(float(s)) for s in median_shape],
                    "spacing": np.array(spacing, dtype=np.float64), "data_identifier": data_identifier}
        plan = super().get_plans_for_configuration(spacing, median_shape, data_identifier,
                                                   approximate_n_voxels_dataset, _cache)
        network = self.preset.network
        channels = len(self.dataset_json.get("channel_names") or self.dataset_json["modality"])
        heads = LabelManager(self.dataset_json["labels"], self.dataset_json.get("regions_class_order")
                             ).num_segmentation_heads
        memory = TrainingMemoryModel(network.name, network.kwargs, channels, heads)
        patch, batch = rules.decide_patch_and_batch(
            median_shape, (plan["patch_size"], plan["batch_size"]), self.preset.planning, self.gpu_memory_gb,
            self.preset.recipe.batch_size, memory.estimate_gb, approximate_n_voxels_dataset * self.max_dataset_covered)
        self.decisions["patch"], self.decisions["batch"] = patch, batch
        plan["patch_size"] = patch.value
        plan["batch_size"] = batch.value
        plan["architecture"] = architecture_block(network.name, patch.value, list(spacing), channels, heads,
                                                  **network.kwargs)
        return plan

    def save_plans(self, plans: dict) -> None:
        """Write the plans (2d only, plus older custom configurations) with the svseg section, atomically."""
        configurations = plans["configurations"]
        for name in _NNUNET_3D:
            configurations.pop(name, None)
        path = preprocessed_root() / self.dataset_name / f"{self.plans_identifier}.json"
        for name, configuration in _custom_configurations(path).items():
            configurations.setdefault(name, configuration)
        plans[SECTION] = self._section()
        plans[SECTION]["amplification"] = self._amplification_section(plans["configurations"][CONFIGURATION])
        recursive_fix_for_json_export(plans)
        # The trainer's contract (plans.py), checked before anything is written.
        parse_plans(json.loads(json.dumps(plans)), path)
        atomic_write_json(path, plans)
        log.info("plans written to %s", path)

    def _amplification_section(self, configuration: dict[str, Any]) -> dict[str, Any]:
        """Areas at the 2d target spacing and per-fold tiers (folds of splits_final.json if it exists)."""
        if self.amplification == "off":
            return amp.plan_section("off", {}, {})
        areas = amp.areas_at_target_spacing(self.area_stats["cases"], configuration["spacing"])
        splits_file = preprocessed_root() / self.dataset_name / "splits_final.json"
        splits = None
        if splits_file.is_file():
            try:
                splits = json.loads(splits_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise SvsegError(f"{splits_file}: not valid JSON ({exc}); fix or delete it") from None
        return amp.plan_section(self.amplification, areas, amp.crossval_folds(sorted(areas), splits))

    def _section(self) -> dict[str, Any]:
        """The plans' svseg section: preset, network, recipe with planned values, strata, decisions."""
        summary = self.area_stats["summary"]
        objects = summary["all_classes"]["strata"]
        total = objects["all"]["objects"]
        planning = self.preset.planning
        recipe = self.preset.recipe
        batch = self.decisions["batch"].value
        self.decisions["oversampling"] = rules.decide_oversampling(
            objects["ultra_small"]["objects"] / total if total else None, recipe.oversample_foreground, planning)
        self.decisions["epoch"] = rules.decide_epoch_length(
            summary["slices"], batch, (recipe.iters_per_epoch, recipe.val_iters_per_epoch), planning)
        iters, val_iters = self.decisions["epoch"].value
        self.decisions["strata"] = Decision(
            "stratum thresholds (area ratio)", dict(self.preset.strata),
            f"objects < {self.preset.strata['ultra_small']:g} of the slice are ultra-small, "
            f"< {self.preset.strata['small']:g} small; the fingerprint counted with these and evaluation "
            "reads them from the plans")
        recipe = recipe.with_overrides(batch_size=batch, oversample_foreground=self.decisions["oversampling"].value,
                                       iters_per_epoch=iters, val_iters_per_epoch=val_iters)
        self.decisions["recipe"] = Decision(
            "training recipe", {"optimizer": recipe.optimizer, "lr": recipe.lr, "lr_schedule": recipe.lr_schedule,
                                "loss": recipe.loss, "epochs": recipe.epochs},
            f"preset {self.preset.name}: {self.preset.description}")
        order = ("spacing", "patch", "batch", "oversampling", "epoch", "strata", "recipe")
        return {
            "format_version": FORMAT_VERSION,
            "preset": self.preset.name,
            "configuration": CONFIGURATION,
            "network": {"name": self.preset.network.name, "kwargs": dict(self.preset.network.kwargs)},
            "recipe": recipe.to_json(),
            "strata": dict(self.preset.strata),
            "decisions": [self.decisions[key].to_json() for key in order if key in self.decisions],
        }


def _custom_configurations(path: Path) -> dict[str, Any]:
    """Configurations an existing plans file holds besides svseg's own (kept, as nnU-Net keeps them)."""
    if not path.is_file():
        return {}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SvsegError(f"{path}: plans file is not valid JSON ({exc}); delete it or re-run with --clean") from None
    configurations = old.get("configurations", {}) if isinstance(old, dict) else {}
    return {name: c for name, c in configurations.items() if name != CONFIGURATION and name not in _NNUNET_3D}
