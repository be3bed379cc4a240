"""Named planning presets: a network, a training recipe and the rules the planner applies.

Presets are JSON files in the repository's top-level ``plans/`` folder (house rule R4: recipes
are data, not trainer subclasses; docs/design/style.md). ``svseg/presets`` is a symbolic link to that folder, so the
files are package data of ``svseg`` (pyproject's ``package-data`` lists ``presets/*.json``) and
are found with :mod:`importlib.resources` in an editable checkout and in an installed wheel
alike. A path to a JSON file of the same shape is accepted wherever a preset name is.

Shape of a preset file (every key of ``recipe`` is a :class:`~svseg.planning.plans.Recipe`
field; ``planning`` keys are :class:`PlanningRules` fields)::

    {"name": "...", "description": "...", "notes": "...",
     "network": {"name": "svanet", "kwargs": {}},
     "recipe": {...}, "planning": {...}, "strata": {"ultra_small": 0.01, "small": 0.1}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError
from svseg.planning.object_stats import DEFAULT_STRATA, check_strata
from svseg.planning.plans import NetworkSpec, Recipe, parse_recipe

DEFAULT_PRESET = "svanet_paper"
"""The preset with a CUDA GPU: SvANet as the paper trains it."""
CPU_PRESET = "cpu_default"
"""The preset without one: the network and recipe that won svseg's CPU benchmark (docs/planning.md, section 3)."""
_PACKAGE = "svseg"
_FOLDER = "presets"


@dataclass(frozen=True)
class PlanningRules:
    """How the planner turns area statistics and a memory target into a plan.

    - ``gpu_memory_gb``: training memory target (1e9 bytes) when ``--gpu-memory-gb`` is not given.
    - ``auto_batch_size``: batch from the memory model (True) or the recipe's batch, patch shrunk
      to fit (False, the paper's fixed batch of 4).
    - ``max_patch_size``: cap on the in-plane patch (the paper crops 512 x 512); None = whole slice.
    - ``min_patch_size``: never plan a patch side below this (pixels).
    - ``patch_multiple``: patch sides are multiples of this (SvANet's output stride, 32).
    - ``min_object_px`` / ``object_percentile``: the spacing must keep the p-th percentile
      object at least this many pixels large.
    - ``max_upscale``: in-plane spacing is never refined below native median spacing / this;
      1 (the default) turns refinement off.
    - ``ultra_small_majority`` / ``ultra_small_oversample``: when more than this fraction of
      objects is ultra-small, foreground oversampling is raised to at least that value; a
      majority of 1 (the default) turns the rule off.
    - ``epoch_is_one_pass``: an epoch is one pass over the training slices (official SvANet
      code) instead of the recipe's fixed iteration count (nnU-Net).

    Both size-driven rules are off by default because they did not help where measured: on the
    synthetic CT set each cost svanet_tiny about 0.26-0.30 object Dice (docs/planning.md, "What the measurements
    say"); a preset can still turn them on.
    """

    gpu_memory_gb: float = 24.0
    auto_batch_size: bool = True
    max_patch_size: tuple[int, int] | None = None
    min_patch_size: int = 64
    patch_multiple: int = 32
    min_object_px: float = 16.0
    object_percentile: int = 5
    max_upscale: float = 1.0
    ultra_small_majority: float = 1.0
    ultra_small_oversample: float = 0.5
    epoch_is_one_pass: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.gpu_memory_gb > 0, "gpu_memory_gb must be > 0"),
            (self.patch_multiple >= 1, "patch_multiple must be >= 1"),
            (self.min_patch_size >= self.patch_multiple, "min_patch_size must be >= patch_multiple"),
            (self.min_object_px > 0, "min_object_px must be > 0"),
            (self.object_percentile in (5, 25, 50, 75, 95), "object_percentile must be 5, 25, 50, 75 or 95"),
            (self.max_upscale >= 1, "max_upscale must be >= 1"),
            (0 <= self.ultra_small_majority <= 1, "ultra_small_majority must be in [0, 1]"),
            (0 <= self.ultra_small_oversample <= 1, "ultra_small_oversample must be in [0, 1]"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass(frozen=True)
class Preset:
    """A named network + recipe + planning rules + stratum thresholds."""

    name: str
    description: str
    network: NetworkSpec
    recipe: Recipe
    planning: PlanningRules
    strata: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_STRATA))
    notes: str = ""


def default_preset() -> str:
    """The preset a plan gets when none is named: ``svanet_paper`` with a CUDA GPU, else ``cpu_default``.

    svanet_paper's 202 M-parameter SvANet at 512 x 512 takes days per fold on a laptop CPU; a
    user without a GPU who runs the three commands gets a plan that trains in minutes to an hour.
    Planning on a machine without a GPU for training on one elsewhere needs ``--preset svanet_paper``.
    """
    import torch

    return DEFAULT_PRESET if torch.cuda.is_available() else CPU_PRESET


def list_presets() -> list[str]:
    """Names of the presets shipped with svseg."""
    folder = resources.files(_PACKAGE) / _FOLDER
    return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".json"))


def load_preset(name_or_path: str | Path) -> Preset:
    """A shipped preset by name, or a preset JSON file by path; problems name the file."""
    text_name = str(name_or_path)
    if text_name.endswith(".json") or Path(text_name).is_file():
        path = Path(text_name)
        if not path.is_file():
            raise SvsegError(f"{path}: preset file not found")
        where = str(path)
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SvsegError(f"{path}: preset file cannot be read as text ({type(exc).__name__})") from None
    else:
        resource = resources.files(_PACKAGE) / _FOLDER / f"{text_name}.json"
        if not resource.is_file():
            raise SvsegError(f"unknown preset {text_name!r}; shipped presets: {', '.join(list_presets())}")
        source, where = resource.read_text(encoding="utf-8"), f"preset {text_name}"
    try:
        data = json.loads(source)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser's stack
        raise SvsegError(f"{where}: not valid JSON ({' '.join(str(exc).split())[:160]})") from None
    return parse_preset(data, where)


def parse_preset(data: Any, where: str) -> Preset:
    """Validate a preset's JSON, naming `where` and the key in every error."""
    if not isinstance(data, dict):
        raise SvsegError(f"{where}: a preset must be a JSON object")
    unknown = set(data) - {"name", "description", "notes", "network", "recipe", "planning", "strata"}
    if unknown:
        raise SvsegError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    network = data.get("network", {})
    if not isinstance(network, dict) or not isinstance(network.get("name"), str):
        raise SvsegError(f"{where}: 'network' must be {{'name': ..., 'kwargs': {{...}}}}")
    from svseg.networks import is_network, list_networks

    if not is_network(network["name"]):
        raise SvsegError(f"{where}: network {network['name']!r} is not registered; registered: "
                         f"{', '.join(list_networks())}")
    try:
        strata = check_strata(data.get("strata", DEFAULT_STRATA))
        planning = _parse_rules(data.get("planning", {}))
    except (TypeError, ValueError) as exc:
        raise SvsegError(f"{where}: {exc}") from None
    return Preset(
        name=str(data.get("name", where)),
        description=str(data.get("description", "")),
        network=NetworkSpec(network["name"], dict(network.get("kwargs", {}))),
        recipe=parse_recipe(data.get("recipe", {}), where),
        planning=planning,
        strata=strata,
        notes=str(data.get("notes", "")),
    )


def _parse_rules(data: Any) -> PlanningRules:
    if not isinstance(data, dict):
        raise TypeError("'planning' must be an object")
    known = {f.name for f in fields(PlanningRules)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown planning key(s) {', '.join(sorted(unknown))}")
    values = dict(data)
    if values.get("max_patch_size") is not None:
        patch = values["max_patch_size"]
        if not (isinstance(patch, list) and len(patch) == 2 and all(isinstance(p, int) and p > 0 for p in patch)):
            raise ValueError(f"planning.max_patch_size must be two positive integers, got {patch!r}")
        values["max_patch_size"] = (patch[0], patch[1])
    return PlanningRules(**values)
