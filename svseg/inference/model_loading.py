"""Finding a trained model folder and loading it without nnU-Net's trainer lookup.

A model folder is nnU-Net's ``$results/DatasetNNN_NAME/<trainer>__<plans>__<configuration>/``
with ``plans.json``, ``dataset.json`` and ``fold_<k>/checkpoint_<final|best|latest>.pth``.
nnU-Net's ``initialize_from_trained_model_folder`` finds the trainer class by name, which imports
every trainer module it ships (and breaks in some torch/torchvision installs), and loads the
checkpoints with ``weights_only=False``. svseg instead rebuilds the network from the plans after
the registry check (:func:`svseg.training.network_from_plans.build_network_from_plans`) and loads
the weights through :func:`svseg.training.checkpoints.read_checkpoint` (``weights_only=True``,
a file that needs a full unpickle refused), the reader training's ``--continue`` uses too.

Which model ``--arch NAME`` means is defined once, by :func:`model_arch`: the registered network
the folder's plans say it holds. ``svseg train --arch NAME`` writes exactly that name there (the
plan's own network trains in the base configuration, any other in ``<base>_NAME``), so train,
predict and compare reach the same folder by the same name.
"""

from __future__ import annotations

import json
import logging
import numbers
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError
from svseg.planning.plans import CONFIGURATION

log = logging.getLogger(__name__)

CHECKPOINTS = ("final", "best", "latest")
_MODEL_DIR_RE = re.compile(r"^(?P<trainer>[^_].*?)__(?P<plans>.+?)__(?P<configuration>[^_].*)$")
_DATASET_DIR_RE = re.compile(r"^Dataset\d{3}_.+$")
_FOLD_RE = re.compile(r"^fold_(\d+|all)$")


@dataclass(frozen=True)
class ModelFolder:
    """One trained model: its folder and the parts of its name."""

    path: Path
    trainer: str
    plans: str
    configuration: str
    arch: str | None = None

    @property
    def label(self) -> str:
        """``DatasetNNN_NAME/Trainer__plans__configuration``, for listings."""
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def choice(self) -> str:
        """How a user picks this model: ``--arch NAME (folder)``, or ``-m PATH`` when it has no arch name."""
        return f"--arch {self.arch} ({self.label})" if self.arch else f"-m {self.path} (no registered network)"


@dataclass
class LoadedModel:
    """Everything the predictor needs, loaded from one model folder."""

    folder: Path
    folds: list[str]
    network: Any
    plans_manager: Any
    configuration_manager: Any
    configuration: str
    dataset_json: dict
    parameters: list[dict]
    trainer_name: str
    mirroring_axes: tuple[int, ...] | None
    channel_names: list[str]

    @property
    def num_input_channels(self) -> int:
        """Channels per input image (from dataset.json's channel_names)."""
        return len(self.channel_names)


def checkpoint_file_name(checkpoint: str) -> str:
    """``final`` -> ``checkpoint_final.pth``; unknown names are a user error."""
    if checkpoint not in CHECKPOINTS:
        raise SvsegError(f"--checkpoint {checkpoint!r}: unknown checkpoint; choose one of {', '.join(CHECKPOINTS)}")
    return f"checkpoint_{checkpoint}.pth"


def find_trained_models(root: Path, checkpoint: str = "final") -> list[ModelFolder]:
    """Model folders under `root` (a results root or one dataset's folder) with a fold checkpoint."""
    name = checkpoint_file_name(checkpoint)
    if not root.is_dir():
        return []
    dataset_dirs = [root] if _DATASET_DIR_RE.match(root.name) else sorted(
        p for p in root.iterdir() if p.is_dir() and _DATASET_DIR_RE.match(p.name))
    found = []
    for dataset_dir in dataset_dirs:
        for model_dir in sorted(p for p in dataset_dir.iterdir() if p.is_dir()):
            parsed = _parse_model_dir(model_dir)
            if parsed and (model_dir / "plans.json").is_file() and available_folds(model_dir, name):
                found.append(ModelFolder(parsed.path, parsed.trainer, parsed.plans, parsed.configuration,
                                         model_arch(model_dir)))
    return found


def _parse_model_dir(path: Path) -> ModelFolder | None:
    match = _MODEL_DIR_RE.match(path.name)
    if not match:
        return None
    return ModelFolder(path, match["trainer"], match["plans"], match["configuration"])


def model_arch(model_dir: Path) -> str | None:
    """The registered network `model_dir` holds (the ``--arch`` name that reaches it), or None.

    svseg's section of the folder's plans names the network of the configuration it trains (the
    plan's own network in the base configuration, ``NAME`` in ``<base>_NAME``); failing that, a
    configuration ``<base>_NAME`` inheriting from ``<base>`` names ``NAME`` when it is registered.
    A plain nnU-Net model folder has no arch name: its planner picks its own topology (a 3D or
    residual-encoder U-Net as often as svseg's ``unet``), and ``svseg train --arch unet`` trains
    its own folder, so calling it ``unet`` would let one name reach two models. It is chosen with
    ``-m`` (or is used when it is the only model).
    """
    folder = _parse_model_dir(Path(model_dir))
    try:
        plans = json.loads((Path(model_dir) / "plans.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # unreadable plans: no name here, load_model names the file
        return None
    if folder is None or not isinstance(plans, dict):
        return None
    section = plans.get("svseg") if isinstance(plans.get("svseg"), dict) else {}
    network = section.get("network") if isinstance(section.get("network"), dict) else {}
    if section.get("configuration", CONFIGURATION) == folder.configuration and isinstance(network.get("name"), str):
        return network["name"]
    configurations = plans.get("configurations")
    configuration = configurations.get(folder.configuration) if isinstance(configurations, dict) else None
    base = configuration.get("inherits_from") if isinstance(configuration, dict) else None
    if isinstance(base, str) and folder.configuration.startswith(f"{base}_"):
        from svseg.networks import is_network

        name = folder.configuration.removeprefix(f"{base}_")
        return name if is_network(name) else None
    return None


def available_folds(model_dir: Path, checkpoint_name: str) -> list[str]:
    """Folds of `model_dir` that hold `checkpoint_name`, numeric folds first, then ``all``.

    Anything by that name counts (a folder or an empty file too), so that reading it names the
    broken file instead of reporting the fold as untrained.
    """
    folds = []
    for child in model_dir.iterdir() if model_dir.is_dir() else []:
        match = _FOLD_RE.match(child.name)
        if match and (child / checkpoint_name).exists():
            folds.append(match.group(1))
    return sorted(folds, key=lambda f: (f == "all", int(f) if f.isdigit() else 0))


def select_model(results_root: Path, dataset_dir: Path | None, model_dir: Path | None, arch: str | None,
                 checkpoint: str) -> Path:
    """The model folder to predict with, the one svseg's every ``--arch NAME`` lookup goes through.

    `model_dir` may be a model folder itself or a dataset's results folder. Without either, the
    results root is searched. ``arch`` picks the model holding that registered network
    (:func:`model_arch`); without it, exactly one trained model must be there. Every ambiguity is
    a user error listing the candidates as ``--arch NAME (folder)``.
    """
    if model_dir is not None:
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise SvsegError(f"{model_dir}: model folder not found")
        if (model_dir / "plans.json").is_file():
            _check_folder_arch(model_dir, arch)
            return model_dir
        candidates, where = find_trained_models(model_dir, checkpoint), str(model_dir)
    elif dataset_dir is not None:
        candidates, where = find_trained_models(dataset_dir, checkpoint), dataset_dir.name
    else:
        candidates, where = find_trained_models(results_root, checkpoint), str(results_root)
    if arch is not None:
        matching = [c for c in candidates if c.arch == arch]
        if not matching:
            _check_registered(arch)
        candidates = matching
    if not candidates:
        listing = "; ".join(m.choice for m in find_trained_models(results_root, checkpoint)) or "none"
        wanted = f" for --arch {arch}" if arch else ""
        raise SvsegError(f"no trained model{wanted} in {where} (with checkpoint_{checkpoint}.pth); "
                         f"trained models: {listing}")
    if len(candidates) > 1:
        listing = "; ".join(m.choice for m in candidates)
        names = [c.arch for c in candidates]
        hint = "-d or -m" if arch is not None or len(set(names)) < len(names) else (
            "--arch or -m" if None in names else "--arch")
        raise SvsegError(f"several trained models in {where}: {listing}; choose one with {hint}")
    return candidates[0].path


def _check_registered(arch: str) -> None:
    from svseg.networks import is_network, list_networks

    if not is_network(arch):
        raise SvsegError(f"unknown architecture {arch!r} (--arch); registered: {', '.join(list_networks())}")


def _check_folder_arch(model_dir: Path, arch: str | None) -> None:
    """``-m FOLDER --arch NAME`` must agree, or the name would mean a different model here."""
    held = model_arch(model_dir)
    if arch is not None and held != arch:
        _check_registered(arch)
        what = f"--arch {held}" if held else "no registered network (a plain nnU-Net model)"
        raise SvsegError(f"{model_dir}: holds {what}, not --arch {arch}; drop --arch or choose another folder")


def resolve_folds(model_dir: Path, folds: list[str] | None, checkpoint: str) -> list[str]:
    """The folds to ensemble: the given ones (checked), or every fold with the checkpoint.

    Entries may hold several folds separated by commas or spaces (``"0,1"``), as typed on a
    command line.

    ``all`` is nnU-Net's model trained on all cases; by default it is used only when no
    cross-validation fold exists (as nnU-Net's auto-detection excludes it).
    """
    name = checkpoint_file_name(checkpoint)
    present = available_folds(model_dir, name)
    if not folds:
        numeric = [f for f in present if f != "all"]
        chosen = numeric or present
        if not chosen:
            raise SvsegError(f"{model_dir}: no fold_*/{name} in this model folder")
        return chosen
    chosen = []
    for fold in [part for value in folds for part in str(value).replace(",", " ").split()]:
        if not (fold == "all" or fold.isdigit()):
            raise SvsegError(f"fold {fold!r} is not a number or 'all'")
        fold = fold if fold == "all" else str(int(fold))
        if fold not in present:
            raise SvsegError(f"{model_dir / f'fold_{fold}' / name}: not found; folds with this checkpoint: "
                             f"{', '.join(present) or 'none'}")
        if fold not in chosen:
            chosen.append(fold)
    return chosen


def load_checkpoint(path: Path) -> dict:
    """A fold's checkpoint, through svseg's one checkpoint reader (weights-only; unsafe files refused)."""
    from svseg.training.checkpoints import read_checkpoint

    return read_checkpoint(path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def load_model(model_dir: Path, folds: list[str] | None, checkpoint: str = "final") -> LoadedModel:
    """Read plans, dataset.json and the fold checkpoints of `model_dir` and build the network."""
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels

    from svseg.nnunet_touchpoints import plans_manager as make_plans_manager
    from svseg.planning.plans_safety import check_plans_are_data
    from svseg.training.network_from_plans import build_network_from_plans

    model_dir = Path(model_dir)
    plans, dataset_json = _read_json(model_dir / "plans.json"), _read_json(model_dir / "dataset.json")
    check_plans_are_data(plans, model_dir / "plans.json")  # every plans file, svseg's or nnU-Net's: data only
    if "svseg" in plans:  # validate svseg's section when present; plain nnU-Net models have none
        from svseg.planning.plans import parse_plans

        parse_plans(plans, model_dir / "plans.json")
    fold_names = resolve_folds(model_dir, folds, checkpoint)
    name = checkpoint_file_name(checkpoint)
    parameters, configuration, trainer_name, mirroring_axes = _load_folds(model_dir, fold_names, name)
    plans_manager = make_plans_manager(plans)
    if configuration not in plans_manager.available_configurations:
        raise SvsegError(f"{model_dir / 'plans.json'}: no configuration {configuration!r} (checkpoints need it)")
    configuration_manager = plans_manager.get_configuration(configuration)
    channel_names = model_channel_names(model_dir)
    num_inputs = determine_num_input_channels(plans_manager, configuration_manager, dataset_json)
    num_outputs = plans_manager.get_label_manager(dataset_json).num_segmentation_heads
    network = build_network_from_plans(plans, configuration, num_inputs, num_outputs, deep_supervision=False)
    for fold, weights in reversed(list(zip(fold_names, parameters, strict=True))):  # all checked, first stays
        _load_weights(network, weights, model_dir / f"fold_{fold}" / name)
    log.info("model %s, configuration %s, folds %s, checkpoint %s", model_dir, configuration,
             ", ".join(fold_names), name)
    return LoadedModel(model_dir, fold_names, network, plans_manager, configuration_manager, configuration,
                       dataset_json, parameters, trainer_name, mirroring_axes, channel_names)


def _load_weights(network: Any, weights: dict, path: Path) -> None:
    """Load one fold's weights; weights that do not fit the plans' network are a user error naming the file."""
    try:
        network.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise SvsegError(f"{path}: checkpoint does not fit the network in {path.parent.parent / 'plans.json'} "
                         f"({str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__})"
                         ) from None


def model_channel_names(model_dir: Path) -> list[str]:
    """The input channels the model expects, in order, from its dataset.json (cheap: no weights)."""
    dataset_json = _read_json(Path(model_dir) / "dataset.json")
    names = _channel_names(dataset_json, Path(model_dir))
    return [str(v) for _, v in sorted(names.items(), key=lambda kv: int(kv[0]))]


def model_reader_class(model_dir: Path) -> type:
    """nnU-Net's reader class for the model's dataset (from plans.json; no weights loaded)."""
    from svseg.nnunet_touchpoints import plans_manager
    from svseg.planning.plans_safety import check_plans_are_data

    plans_file = Path(model_dir) / "plans.json"
    plans = _read_json(plans_file)
    check_plans_are_data(plans, plans_file)  # nnU-Net finds the reader by name, importing modules to look
    try:
        return plans_manager(plans).image_reader_writer_class
    except (KeyError, RuntimeError) as exc:
        raise SvsegError(f"{plans_file}: no usable image_reader_writer ({_first_line(exc)})") from None


def _load_folds(model_dir: Path, fold_names: list[str], name: str
                ) -> tuple[list[dict], str, str, tuple[int, ...] | None]:
    """Weights of every fold plus the configuration, trainer name and mirror axes of the first.

    All folds must come from the same configuration, or averaging their outputs is meaningless.
    """
    folder = _parse_model_dir(model_dir)
    parameters: list[dict] = []
    configuration, trainer_name, mirroring_axes = None, "", None
    for fold in fold_names:
        path = model_dir / f"fold_{fold}" / name
        loaded = load_checkpoint(path)
        init_args = loaded.get("init_args") if isinstance(loaded.get("init_args"), dict) else {}
        fold_configuration = init_args.get("configuration") or (folder.configuration if folder else None)
        if fold_configuration is None:
            raise SvsegError(f"{path}: cannot tell which configuration this checkpoint belongs to")
        if configuration is None:
            configuration, trainer_name = str(fold_configuration), str(loaded.get("trainer_name", ""))
            mirroring_axes = _mirroring_axes(loaded.get("inference_allowed_mirroring_axes"), path)
        elif fold_configuration != configuration:
            raise SvsegError(f"{path}: fold trained with configuration {fold_configuration!r}, "
                             f"other folds with {configuration!r}")
        parameters.append(loaded["network_weights"])
    return parameters, str(configuration), trainer_name, mirroring_axes


def _mirroring_axes(axes: Any, path: Path) -> tuple[int, ...] | None:
    if axes is None:
        return None
    if not isinstance(axes, (list, tuple)) or not all(isinstance(a, numbers.Integral) and 0 <= a < 3 for a in axes):
        raise SvsegError(f"{path}: inference_allowed_mirroring_axes {axes!r} is not a list of axes 0-2")
    return tuple(int(a) for a in axes)


def _channel_names(dataset_json: dict, model_dir: Path) -> dict:
    names = dataset_json.get("channel_names", dataset_json.get("modality"))
    if not isinstance(names, dict) or not names:
        raise SvsegError(f"{model_dir / 'dataset.json'}: no channel_names")
    return names


def _read_json(path: Path) -> dict:
    """A model folder's JSON file; its dataset.json also checked as data (nnU-Net looks a reader up by name)."""
    from svseg.io.dataset_json_safety import check_dataset_json_is_data

    if not path.is_file():
        raise SvsegError(f"{path}: not found; is {path.parent} a trained model folder?")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or not UTF-8; deep nesting
        raise SvsegError(f"{path}: not valid JSON ({' '.join(str(exc).split())[:160] or type(exc).__name__})"
                         ) from None
    if path.name == "dataset.json":
        check_dataset_json_is_data(content, path)
    return content
