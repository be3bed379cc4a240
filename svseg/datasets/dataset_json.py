"""Reading and writing nnU-Net's ``dataset.json``, and naming channels and labels.

nnU-Net reads four keys (``channel_names``, ``labels``, ``numTraining``, ``file_ending``); the
*name* of a channel also picks its intensity normalisation (``CT``, ``zscore``,
``rescale_to_0_1``, ``rgb_to_0_1``, ``noNorm``; anything else means z-score). svseg adds its own
``svseg`` key (source folder, layout, label mapping, the channel rule ``input_channels`` of
:mod:`svseg.io.channel_rule`, creation time, version) that nnU-Net ignores but copies into the
preprocessed and model folders, so a dataset keeps a record of where it came from and a model
of how its input files were turned into channels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from svseg import __version__
from svseg.errors import SvsegError

RGB_CHANNEL_MEANING = ("R", "G", "B")


def load_json(path: Path) -> dict[str, Any]:
    """Parse a JSON object from `path`; a missing or malformed file is a user error naming it."""
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SvsegError(f"{path}: no such file") from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or not UTF-8
        raise SvsegError(f"{path}: not valid JSON ({' '.join(str(exc).split())[:160] or type(exc).__name__})"
                         ) from None
    if not isinstance(content, dict):
        raise SvsegError(f"{path}: expected a JSON object at the top level")
    return content


def split_names(values: Sequence[str] | str | None) -> list[str]:
    """Names from ``"a,b"`` or ``["a", "b"]`` (or a mix), stripped, empty entries dropped."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def label_names_from_user(values: Sequence[str] | str | None) -> list[str] | None:
    """The user's label names in label order, with ``background`` first (added when left out).

    ``--labels lesion`` and ``--labels background,lesion`` both mean {background: 0, lesion: 1}.
    """
    names = split_names(values)
    if not names:
        return None
    if names[0].lower() != "background":
        if "background" in (name.lower() for name in names):
            raise SvsegError(f"--labels {','.join(names)}: 'background' must come first (it is label 0)")
        names = ["background", *names]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SvsegError(f"--labels {','.join(names)}: names given twice: {', '.join(duplicates)}")
    return names


def default_label_names(num_labels: int) -> list[str]:
    """``background`` plus ``foreground`` for one class, else ``label_1`` ... ``label_K``."""
    if num_labels <= 2:
        return ["background", "foreground"][:max(num_labels, 1)]
    return ["background", *(f"label_{k}" for k in range(1, num_labels))]


def default_channel_names(num_channels: int, *, is_volume: bool, rgb_8bit: bool, modality: str | None) -> list[str]:
    """Channel names that pick the right nnU-Net normalisation for what was imported.

    8-bit RGB images are scaled by 1/255 (``rgb_to_0_1``, what nnU-Net's RGB reader expects);
    CT from DICOM keeps Hounsfield-aware ``CT`` normalisation; everything else uses per-image
    z-score, nnU-Net's own default for unknown modalities.
    """
    if rgb_8bit:
        return ["rgb_to_0_1"] * num_channels
    if is_volume and modality and modality.upper() == "CT":
        return ["CT"] * num_channels
    return ["zscore"] * num_channels


def channel_names_from_user(values: Sequence[str] | str | None, num_channels: int, example: Path) -> list[str] | None:
    """The user's ``--channel-names``, checked against the channel count of the images."""
    names = split_names(values)
    if not names:
        return None
    if len(names) != num_channels:
        raise SvsegError(
            f"{example}: images have {num_channels} channel(s) but --channel-names gives {len(names)} "
            f"({', '.join(names)})"
        )
    return names


def build_dataset_json(
    *,
    name: str,
    channel_names: Sequence[str],
    label_names: Sequence[str],
    num_training: int,
    file_ending: str,
    svseg_info: dict[str, Any],
) -> dict[str, Any]:
    """The dataset.json nnU-Net expects, plus svseg's provenance record under ``svseg``."""
    return {
        "name": name,
        "channel_names": {str(index): channel for index, channel in enumerate(channel_names)},
        "labels": {label: index for index, label in enumerate(label_names)},
        "numTraining": int(num_training),
        "file_ending": file_ending,
        "svseg": provenance(svseg_info),
    }


def provenance(info: dict[str, Any]) -> dict[str, Any]:
    """`info` plus the creation time (UTC, ISO 8601) and the svseg version that wrote it."""
    return {
        **info,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "svseg_version": __version__,
    }


def declared_label_values(labels: dict[str, Any]) -> list[int]:
    """Every integer a label file may hold under ``labels`` (regions list several per name)."""
    values: set[int] = set()
    for value in labels.values():
        for item in value if isinstance(value, list) else [value]:
            values.add(int(item))
    return sorted(values)
