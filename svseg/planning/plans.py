"""The svseg section of the plans, read through one typed, validated view.

svseg writes ordinary nnU-Net plans (``svsegPlans.json`` in the preprocessed dataset folder)
so nnU-Net's own tools can read them, and adds a top-level ``"svseg"`` section that holds every
hyperparameter the run uses (the recipe), the network by registry name, the evaluation strata and
the planner's decisions with their reasons. Nothing else in svseg indexes ``plans["..."]`` by
hand: it goes through :class:`SvsegPlans` (house rule R4, docs/design/style.md).

Layout of the section::

    "svseg": {
      "format_version": 1,
      "preset": "svanet_paper",
      "configuration": "2d",
      "network": {"name": "svanet", "kwargs": {}},
      "recipe": {
        "optimizer": "adamw" | "sgd", "weight_decay": 0.03, "momentum": 0.99, "nesterov": true,
        "betas": [0.9, 0.999],
        "lr": 5e-4, "lr_schedule": "warmup_cosine" | "poly",
        "warmup_epochs": 5, "warmup_start_lr": 5e-5, "final_lr": 1e-6, "poly_exponent": 0.9,
        "loss": "ce" | "dice_ce" | "structure" | "dice_ce_structure",
        "epochs": 100, "iters_per_epoch": 250, "val_iters_per_epoch": 50,
        "batch_size": 4, "oversample_foreground": 0.33,
        "freeze_encoder_fraction": 0.1,
        "checkpoint_every": 5
      },
      "strata": {"ultra_small": 0.01, "small": 0.1},
      "decisions": [{"what": "...", "value": ..., "reason": "..."}],
      "amplification": {"mode": "off" | "code" | "two-tier", ...}   (optional; see amplification.py)
    }
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError
from svseg.planning.amplification import MODES as _AMPLIFICATION_MODES
from svseg.planning.plans_safety import check_plans_are_data

FORMAT_VERSION = 1
PLANS_NAME = "svsegPlans"
CONFIGURATION = "2d"

_OPTIMIZERS = ("adamw", "sgd")
_SCHEDULES = ("warmup_cosine", "poly", "constant")
_LOSSES = ("ce", "dice_ce", "structure", "dice_ce_structure")  # svseg.training.losses.LOSSES


@dataclass(frozen=True)
class Recipe:
    """Every training hyperparameter, as data (no trainer subclass per value)."""

    optimizer: str = "sgd"
    weight_decay: float = 3e-5
    momentum: float = 0.99
    nesterov: bool = True
    betas: tuple[float, float] = (0.9, 0.999)
    lr: float = 1e-2
    lr_schedule: str = "poly"
    warmup_epochs: int = 0
    warmup_start_lr: float = 0.0
    final_lr: float = 0.0
    poly_exponent: float = 0.9
    loss: str = "dice_ce"
    epochs: int = 1000
    iters_per_epoch: int = 250
    val_iters_per_epoch: int = 50
    batch_size: int = 2
    oversample_foreground: float = 0.33
    freeze_encoder_fraction: float = 0.0
    checkpoint_every: int = 5

    def with_overrides(self, **overrides: Any) -> Recipe:
        """A copy with the given fields replaced; None values are ignored (CLI options not given)."""
        given = {key: value for key, value in overrides.items() if value is not None}
        unknown = set(given) - {f.name for f in fields(self)}
        if unknown:
            raise SvsegError(f"unknown recipe field(s): {', '.join(sorted(unknown))}")
        return _validated_recipe(replace(self, **given), "command line")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (tuples become lists)."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data


@dataclass(frozen=True)
class NetworkSpec:
    """A network as the registry knows it: a registered name plus plain-JSON kwargs."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Amplification:
    """The plans' amplification section (svseg/planning/amplification.py), validated.

    ``areas`` maps case id -> {slice index: foreground pixels at the target spacing} for units
    with foreground; ``folds`` maps a fold name ("0".."4", "all") to what the planner computed on
    that fold's training cases (``training``, ``S``, ``A``, ``N1``, ``N2``, ``tiers``, ``weights``).
    """

    mode: str = "off"
    max_weight: int = 17
    areas: dict[str, dict[int, float]] = field(default_factory=dict)
    folds: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Whether training draws amplified samples."""
        return self.mode != "off"


def parse_amplification(data: Any, where: str) -> Amplification:
    """Build an Amplification from the plans' JSON (absent = off), naming the key of any problem."""
    if data is None:
        return Amplification()
    if not isinstance(data, dict) or data.get("mode") not in _AMPLIFICATION_MODES:
        raise SvsegError(f"{where}.amplification.mode must be one of {', '.join(_AMPLIFICATION_MODES)}")
    if data["mode"] == "off":
        return Amplification()
    max_weight = data.get("max_weight")
    if not isinstance(max_weight, int) or isinstance(max_weight, bool) or max_weight < 1:
        raise SvsegError(f"{where}.amplification.max_weight must be an integer >= 1 (weights repeat cases)")
    areas: dict[str, dict[int, float]] = {}
    for case, record in (data.get("areas") or {}).items():
        slices, px = record.get("slices"), record.get("px")
        if not isinstance(slices, list) or not isinstance(px, list) or len(slices) != len(px):
            raise SvsegError(f"{where}.amplification.areas[{case!r}] needs 'slices' and 'px' lists of one length")
        if any(not isinstance(a, int | float) or a < 0 for a in px):
            raise SvsegError(f"{where}.amplification.areas[{case!r}].px must hold areas >= 0")
        areas[case] = {int(s): float(a) for s, a in zip(slices, px, strict=True)}
    folds = data.get("folds") or {}
    for name, fold in folds.items():
        n1, n2 = fold.get("N1"), fold.get("N2")
        if not (isinstance(n1, int) and isinstance(n2, int) and 0 <= n2 <= n1
                and round(n1**0.5) ** 2 == n1 and round(n2**0.5) ** 2 == n2):
            raise SvsegError(f"{where}.amplification.folds[{name!r}]: N1 and N2 must be perfect squares, N2 <= N1")
        if not isinstance(fold.get("training"), list):
            raise SvsegError(f"{where}.amplification.folds[{name!r}].training must list the training cases")
    return Amplification(str(data["mode"]), max_weight, areas, dict(folds))


@dataclass(frozen=True)
class SvsegPlans:
    """The typed view of one plans file: nnU-Net's dict plus the validated svseg section."""

    path: Path
    raw: dict[str, Any]
    preset: str
    configuration: str
    network: NetworkSpec
    recipe: Recipe
    strata: dict[str, float]
    decisions: list[dict[str, Any]]
    amplification: Amplification = field(default_factory=Amplification)

    @property
    def plans_name(self) -> str:
        """nnU-Net's plans identifier (the file stem), e.g. ``svsegPlans``."""
        return str(self.raw.get("plans_name", self.path.stem))

    def nnunet_configuration(self, name: str | None = None) -> dict[str, Any]:
        """nnU-Net's configuration dict (default: the svseg configuration)."""
        name = name or self.configuration
        configurations = self.raw.get("configurations", {})
        if name not in configurations:
            raise SvsegError(f"{self.path}: no configuration {name!r}; available: {', '.join(configurations)}")
        return configurations[name]


def parse_recipe(data: dict[str, Any], where: str) -> Recipe:
    """Build a Recipe from JSON, naming the file and key of any problem."""
    if not isinstance(data, dict):
        raise SvsegError(f"{where}: 'recipe' must be an object")
    known = {f.name: f for f in fields(Recipe)}
    unknown = set(data) - set(known)
    if unknown:
        raise SvsegError(f"{where}: unknown recipe key(s) {', '.join(sorted(unknown))}")
    values = dict(data)
    if "betas" in values:
        values["betas"] = tuple(values["betas"])
    try:
        recipe = Recipe(**values)
    except TypeError as exc:
        raise SvsegError(f"{where}: bad recipe ({exc})") from None
    return _validated_recipe(recipe, where)


def _validated_recipe(recipe: Recipe, where: str) -> Recipe:
    checks = [
        (recipe.optimizer in _OPTIMIZERS, f"recipe.optimizer must be one of {_OPTIMIZERS}"),
        (recipe.lr_schedule in _SCHEDULES, f"recipe.lr_schedule must be one of {_SCHEDULES}"),
        (recipe.loss in _LOSSES, f"recipe.loss must be one of {_LOSSES}"),
        (recipe.lr > 0, "recipe.lr must be > 0"),
        (recipe.epochs >= 1, "recipe.epochs must be >= 1"),
        (recipe.iters_per_epoch >= 1, "recipe.iters_per_epoch must be >= 1"),
        (recipe.val_iters_per_epoch >= 0, "recipe.val_iters_per_epoch must be >= 0"),
        (recipe.batch_size >= 1, "recipe.batch_size must be >= 1"),
        (0.0 <= recipe.oversample_foreground <= 1.0, "recipe.oversample_foreground must be in [0, 1]"),
        (0.0 <= recipe.freeze_encoder_fraction < 1.0, "recipe.freeze_encoder_fraction must be in [0, 1)"),
        (recipe.checkpoint_every >= 1, "recipe.checkpoint_every must be >= 1"),
        (recipe.warmup_epochs >= 0, "recipe.warmup_epochs must be >= 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise SvsegError(f"{where}: {message}")
    return recipe


def parse_plans(raw: Any, path: Path) -> SvsegPlans:
    """Validate an already-loaded plans dict: plain data only (plans_safety), then its svseg section."""
    check_plans_are_data(raw, path)
    section = raw.get("svseg")
    if not isinstance(section, dict):
        raise SvsegError(f"{path}: not an svseg plans file (no 'svseg' section); run svseg plan-and-preprocess")
    version = section.get("format_version")
    if version != FORMAT_VERSION:
        raise SvsegError(f"{path}: svseg.format_version is {version!r}, expected {FORMAT_VERSION}; re-plan")
    network = section.get("network")
    if not isinstance(network, dict) or not isinstance(network.get("name"), str):
        raise SvsegError(f"{path}: svseg.network must be {{'name': ..., 'kwargs': {{...}}}}")
    kwargs = network.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise SvsegError(f"{path}: svseg.network.kwargs must be an object")
    strata = section.get("strata", {"ultra_small": 0.01, "small": 0.1})
    if not (0 < strata.get("ultra_small", 0) < strata.get("small", 0) <= 1):
        raise SvsegError(f"{path}: svseg.strata must satisfy 0 < ultra_small < small <= 1")
    configuration = section.get("configuration", CONFIGURATION)
    if configuration not in raw.get("configurations", {}):
        raise SvsegError(f"{path}: svseg.configuration {configuration!r} is not among the plans' configurations")
    return SvsegPlans(
        path=path,
        raw=raw,
        preset=str(section.get("preset", "")),
        configuration=configuration,
        network=NetworkSpec(network["name"], dict(kwargs)),
        recipe=parse_recipe(section.get("recipe", {}), f"{path}: svseg"),
        strata={"ultra_small": float(strata["ultra_small"]), "small": float(strata["small"])},
        decisions=list(section.get("decisions", [])),
        amplification=parse_amplification(section.get("amplification"), f"{path}: svseg"),
    )


def load_plans(path: Path | str) -> SvsegPlans:
    """Read and validate a plans file; every problem names the file (and key)."""
    path = Path(path)
    if not path.is_file():
        raise SvsegError(f"{path}: plans file not found; run svseg plan-and-preprocess first")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, RecursionError) as exc:
        raise SvsegError(f"{path}: plans file is not valid JSON ({str(exc)[:160]})") from None
    return parse_plans(raw, path)


def plans_path(preprocessed_dir: Path, plans_name: str = PLANS_NAME) -> Path:
    """Where a dataset's svseg plans live."""
    return preprocessed_dir / f"{plans_name}.json"
