"""The configurations bench_accuracy.py compares, the plan each one needs, and the split they share.

A configuration is a plan (a preset, overrides of its sections, an amplification mode) and the
network trained on it (the plan's own, or ``arch`` added as ``svseg train --arch`` adds it). Two
configurations with the same plan key share one planned and preprocessed folder, so ``unet`` is
trained on exactly the plan of the configuration it is compared with. Suites are lists of
configurations; a JSON file of :class:`Config` fields is one too.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REFERENCE = "unet"
SUITES = ("main", "networks", "ablations", "all")


@dataclass(frozen=True)
class Config:
    """One configuration: a plan (preset + overrides + amplification) and the network trained on it."""

    name: str
    preset: str
    overrides: dict[str, Any] = field(default_factory=dict)
    amplification: str = "off"
    arch: str | None = None
    reference: str | None = REFERENCE
    note: str = ""
    draw: int = 1
    """Which training of this configuration: 2, 3, ... train it again (nnU-Net does not seed its
    training) to show the run-to-run spread the case-bootstrap intervals do not cover."""


def suite_configs(suite: str, preset: str, archs: list[str]) -> list[Config]:
    """The configurations of a built-in suite on `preset` (references before the rows compared with them).

    ``main``: the preset's network against ``unet`` on the same plan. ``networks``: the same plus
    `archs`. ``ablations``: the preset's network with each size-driven planning decision switched
    (spacing refinement and raised oversampling on, off by default since their measurement;
    amplification, loss and patch changed), each against the preset's own configuration. ``all``:
    ``networks`` and ``ablations`` in one run, timed in one session.
    """
    unet = Config(REFERENCE, preset, arch=REFERENCE, reference=None, note="nnU-Net's PlainConvUNet on the same plan")
    default = Config("default", preset, note=f"the network and plan of preset {preset}")
    networks = [Config(arch, preset, arch=arch, note="on the same plan") for arch in archs]
    suites = {"main": [unet, default], "networks": [unet, default, *networks],
              "ablations": [replace(default, reference=None), *_ablations(preset, default.name)],
              "all": [unet, default, *networks, *_ablations(preset, default.name)]}
    if suite not in suites:
        raise SystemExit(f"--suite {suite!r}: one of {', '.join(SUITES)}, or a JSON file")
    return suites[suite]


def _ablations(preset: str, base: str) -> list[Config]:
    """Each decision the plan can take because of object size, switched against the preset's plan."""
    return [
        Config("spacing_refinement", preset, {"planning": {"max_upscale": 2.0}}, reference=base,
               note="in-plane spacing refined (up to 2x) until the p05 object covers 16 px"),
        Config("raised_oversampling", preset, {"planning": {"ultra_small_majority": 0.5}}, reference=base,
               note="foreground oversampling raised to 0.5 when most objects are ultra-small"),
        Config("amplification_code", preset, amplification="code", reference=base,
               note="STS-Net amplification, released script's single tier"),
        Config("amplification_two_tier", preset, amplification="two-tier", reference=base,
               note="STS-Net amplification, two tiers"),
        Config("loss_ce", preset, {"recipe": {"loss": "ce"}}, reference=base, note="cross-entropy only"),
        Config("loss_structure", preset, {"recipe": {"loss": "structure"}}, reference=base,
               note="M2SNet/F3Net structure loss"),
        Config("patch_whole_slice", preset, {"planning": {"max_patch_size": None}}, reference=base,
               note="patch = whole median slice (no cap)"),
    ]


def load_suite_file(path: Path) -> list[Config]:
    """Configurations from a JSON list of Config fields (``name`` and ``preset`` required)."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [Config(**entry) for entry in entries]


def preset_document(preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The preset's JSON with the overrides merged in section by section (a preset name or a file)."""
    from svseg.planning.presets import load_preset

    load_preset(preset)  # refuses an unknown name or a bad file in one line
    if preset.endswith(".json"):
        document = json.loads(Path(preset).read_text(encoding="utf-8"))
    else:
        from importlib import resources

        document = json.loads((resources.files("svseg") / "presets" / f"{preset}.json").read_text(encoding="utf-8"))
    merged = copy.deepcopy(document)
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **values}
        else:
            merged[section] = values
    return merged


def plan_key(config: Config) -> str:
    """A folder name that is the same exactly when two configurations share a plan."""
    document = preset_document(config.preset, config.overrides)
    digest = hashlib.sha256(json.dumps([document, config.amplification], sort_keys=True).encode()).hexdigest()
    return f"{Path(config.preset).stem}_{config.amplification}_{digest[:10]}"


def training_cases(raw_dir: Path) -> list[str]:
    """Case ids of ``imagesTr`` (channel 0 files), sorted."""
    ending = json.loads((raw_dir / "dataset.json").read_text(encoding="utf-8"))["file_ending"]
    return sorted(path.name[: -len(f"_0000{ending}")] for path in (raw_dir / "imagesTr").glob(f"*_0000{ending}"))


def make_splits(raw_dir: Path, split: str, folds: int, test_fraction: float) -> list[dict[str, list[str]]]:
    """nnU-Net's ``splits_final.json`` for the benchmark.

    fixed + a test split: one fold training on every case; its ``val`` is one training case, a
    monitor for nnU-Net's per-epoch pseudo-Dice only. fixed without a test split: nnU-Net's seeded
    KFold with round(1 / test_fraction) folds, fold 0 only. cv: nnU-Net's seeded KFold, every fold.
    """
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    cases = training_cases(raw_dir)
    if split == "fixed" and has_test_split(raw_dir):
        return [{"train": cases, "val": cases[:1]}]
    n_splits = folds if split == "cv" else max(2, round(1 / test_fraction))
    splits = generate_crossval_split(cases, seed=12345, n_splits=n_splits)
    return splits if split == "cv" else splits[:1]


def has_test_split(raw_dir: Path) -> bool:
    return (raw_dir / "labelsTs").is_dir() and any((raw_dir / "labelsTs").iterdir())


def held_out(raw_dir: Path, splits: list[dict[str, list[str]]], fold: int) -> tuple[list[str], str]:
    """The cases fold `fold` is scored on and their source (``test`` or ``validation fold k``).

    The test split when the split is the single fold training on every case; else the fold's ``val``.
    """
    if len(splits) == 1 and has_test_split(raw_dir) and splits[0]["val"] == splits[0]["train"][:1]:
        from svseg.io.formats import stem_of

        return sorted(stem_of(path) for path in (raw_dir / "labelsTs").iterdir() if not path.name.startswith(".")), \
            "test"
    return sorted(splits[fold]["val"]), f"validation fold {fold}"
