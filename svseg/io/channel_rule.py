"""How a case's source files become the channels nnU-Net sees: one rule, decided once per dataset.

Import and predict must convert files the same way, or a model refuses (or silently misreads)
the very kind of image it was trained on. :class:`ChannelRule` is that conversion as a small
record: 2D or 3D, files per case, colour handling, the resulting channel count and whether the
normalisation needs 8-bit pixels. It is decided at import from every scanned case
(:func:`decide_rule`), stored in dataset.json under ``"svseg": {"input_channels": ...}``
(nnU-Net copies dataset.json unchanged into the preprocessed folder and the trained model
folder), and read back at prediction (:func:`rule_for_dataset_json`). :func:`apply_rule`
applies it to a case's files and returns the channels.

The decisions, after :mod:`svseg.io.source_files` has expanded palettes and dropped alpha:

* 2D, dataset-wide: if any image is true colour (its three channels differ), every image is RGB
  and grey or equal-channel RGB images get three equal channels; otherwise every image is grey,
  and equal-channel RGB files (how most microscopy software exports grey) keep one channel.
* Volumes: every component of every file is a channel (4D NIfTI and vector images are split).
* ``needs_8bit``: nnU-Net's ``rgb_to_0_1`` normalisation divides by 255 and asserts 0..255, so
  a dataset with a channel of that name takes uint8 pixels only.

At prediction the same rule maps what the user gives, or refuses it with one line naming the
file and why (:func:`plan_case`): an equal-channel RGB image for a grey model becomes grey, a
grey image for an RGB model becomes three equal channels, a 4D NIfTI or a group of channel files
gives the model's channels; a true-colour image for a grey model, a volume for an RGB model, a
wrong channel count or 16-bit pixels for an ``rgb_to_0_1`` model cannot be mapped.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svseg.errors import SvsegError
from svseg.io.formats import VOLUME_ENDINGS
from svseg.io.source_files import COLOUR, EQUAL_RGB, GREY, Channel, SourceInfo, describe_source, read_source

RULE_VERSION = 1
RULE_KEY = "input_channels"
"""The rule's key inside dataset.json's ``svseg`` section."""
GREY_IMAGES, RGB_IMAGES, COMPONENTS = "grey", "rgb", "components"
COLOUR_HANDLING = (GREY_IMAGES, RGB_IMAGES, COMPONENTS)
_PER_FILE = {GREY_IMAGES: 1, RGB_IMAGES: 3}  # channels per 2D file; volumes give their components
EIGHT_BIT_NORMALISATION = "rgb_to_0_1"
MAX_CHANNELS = 1024
_2D_ENDINGS = (".png", ".bmp", ".tif")  # nnU-Net's NaturalImage2DIO; ".tiff" is its Tiff3DIO


@dataclass(frozen=True)
class ChannelRule:
    """What a model's inputs are, so any later reader converts files exactly as import did.

    ``dims``: 2 (images, nnU-Net's 2D reader) or 3 (volumes). ``files_per_case``: source files
    per case at import (1 for one RGB image or one 4D NIfTI). ``colour``: ``grey`` (2D, one
    channel per file), ``rgb`` (2D, three per file) or ``components`` (volumes, every component).
    ``num_channels``: channels nnU-Net sees per case. ``needs_8bit``: a channel is normalised by
    ``rgb_to_0_1``. ``grey_from_rgb``: import read equal-channel RGB files as grey (said in errors).
    """

    dims: int
    files_per_case: int
    colour: str
    num_channels: int
    needs_8bit: bool = False
    grey_from_rgb: bool = False
    version: int = RULE_VERSION

    def __post_init__(self) -> None:
        problem = _rule_problem(self.to_json())
        if problem:
            raise ValueError(f"invalid channel rule {self}: {problem}")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values, for dataset.json."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: Any, source: Path | str) -> ChannelRule:
        """The rule stored in dataset.json `source`; anything but exactly the known keys and values is refused."""
        where = f"{source}: svseg.{RULE_KEY}"
        if not isinstance(data, dict):
            raise SvsegError(f"{where} must be a JSON object, got {type(data).__name__}")
        version = data.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > RULE_VERSION:
            raise SvsegError(f"{where} has version {version}, written by a newer svseg; this one reads version "
                             f"{RULE_VERSION} (upgrade svseg)")
        names = [field.name for field in dataclasses.fields(cls)]
        unknown, missing = sorted(set(data) - set(names)), [name for name in names if name not in data]
        if unknown or missing:
            parts = ([f"unknown key(s) {_short(', '.join(map(repr, unknown)))}"] if unknown else []) + (
                [f"missing key(s) {', '.join(map(repr, missing))}"] if missing else [])
            raise SvsegError(f"{where}: {'; '.join(parts)}")
        for name in names:
            expected = {"colour": str, "needs_8bit": bool, "grey_from_rgb": bool}.get(name, int)
            value = data[name]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise SvsegError(f"{where}: {name!r} must be {expected.__name__}, got {_short(repr(value))}")
        problem = _rule_problem(data)
        if problem:
            raise SvsegError(f"{where}: {problem}")
        return cls(**{name: data[name] for name in names})

    def with_channel_names(self, channel_names: Sequence[str]) -> ChannelRule:
        """The rule with ``needs_8bit`` set from the channel names (nnU-Net matches them case-blind)."""
        return dataclasses.replace(self, needs_8bit=any(
            str(name).casefold() == EIGHT_BIT_NORMALISATION for name in channel_names))

    def trained_on(self) -> str:
        """What the model was trained on, for error messages."""
        if self.colour == RGB_IMAGES:
            return "RGB images"
        if self.colour == GREY_IMAGES:
            return "grey images" + (" (equal-channel RGB read as grey at import)" if self.grey_from_rgb else "")
        return "single-channel volumes" if self.num_channels == 1 else f"{self.num_channels}-channel volumes"

    @property
    def channels_per_file(self) -> int | None:
        """Channels each source file gives when a case has `files_per_case` files (None: as many as it holds)."""
        return _PER_FILE.get(self.colour)


def _short(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters, so a hostile value cannot flood the one-line error."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rule_problem(values: Mapping[str, Any]) -> str | None:
    """Why these field values do not form a rule (None when they do)."""
    dims, colour, channels, files = values["dims"], values["colour"], values["num_channels"], values["files_per_case"]
    if values["version"] != RULE_VERSION:
        return f"version {values['version']} is not {RULE_VERSION}"
    if dims not in (2, 3):
        return f"dims must be 2 or 3, got {dims}"
    if colour not in COLOUR_HANDLING:
        return f"colour must be one of {', '.join(COLOUR_HANDLING)}, got {_short(repr(colour))}"
    if (colour == COMPONENTS) != (dims == 3):
        return f"colour {_short(repr(colour))} does not fit dims {dims} (volumes use 'components', 2D 'grey' or 'rgb')"
    if not 1 <= channels <= MAX_CHANNELS or not 1 <= files <= channels:
        return f"needs 1 <= files_per_case <= num_channels <= {MAX_CHANNELS}, got {files} and {channels}"
    per_file = _PER_FILE.get(colour)
    if per_file is not None and channels != per_file * files:
        return f"{colour} images give {per_file} channel(s) per file, so num_channels must be {per_file} x " \
               "files_per_case"
    if values["grey_from_rgb"] and colour != GREY_IMAGES:
        return "grey_from_rgb applies to grey images only"
    return None


def decide_rule(cases: Sequence[Sequence[SourceInfo]]) -> ChannelRule:
    """The dataset-wide rule from every scanned case (each a sequence of its source files' summaries).

    2D or 3D, the channel count and the files per case are those of most cases (the scan reports
    the others); colour comes from all 2D files (any true colour: RGB for all).
    """
    volumes = Counter(case[0].is_volume for case in cases).most_common(1)[0][0]
    same = [case for case in cases if case[0].is_volume == volumes]
    infos = [info for case in same for info in case]
    if volumes:
        counts = Counter(case_channel_count(COMPONENTS, case) for case in same)
        num_channels = counts.most_common(1)[0][0]
        files = Counter(len(case) for case in same if case_channel_count(COMPONENTS, case) == num_channels)
        return ChannelRule(3, files.most_common(1)[0][0], COMPONENTS, num_channels)
    colour = RGB_IMAGES if any(info.kind == COLOUR for info in infos) else GREY_IMAGES
    files_per_case = Counter(len(case) for case in same).most_common(1)[0][0]
    grey_from_rgb = colour == GREY_IMAGES and any(info.kind == EQUAL_RGB for info in infos)
    return ChannelRule(2, files_per_case, colour, _PER_FILE[colour] * files_per_case, grey_from_rgb=grey_from_rgb)


def case_channel_count(colour: str, infos: Sequence[SourceInfo]) -> int:
    """Channels a case gives at import under the dataset's `colour` handling."""
    per_file = _PER_FILE.get(colour)
    return sum(info.channels if per_file is None or info.is_volume else per_file for info in infos)


def rule_for_dataset_json(content: Mapping[str, Any], path: Path | str) -> ChannelRule:
    """The rule of the dataset (or model) whose dataset.json at `path` holds `content`.

    svseg's recorded rule when present (checked strictly); otherwise one derived from
    ``channel_names`` and ``file_ending`` (:func:`derive_rule`) for datasets imported before svseg
    recorded it and for plain nnU-Net datasets and models.
    """
    names = content.get("channel_names", content.get("modality"))
    if not isinstance(names, dict) or not names:
        raise SvsegError(f"{path}: no channel_names")
    try:
        ordered = [str(value) for _, value in sorted(names.items(), key=lambda item: int(item[0]))]
    except (TypeError, ValueError):
        raise SvsegError(f"{path}: channel_names must map \"0\", \"1\" ... to names") from None
    record = content.get("svseg")
    if isinstance(record, dict) and RULE_KEY in record:
        rule = ChannelRule.from_json(record[RULE_KEY], path)
        if rule.num_channels != len(ordered):
            raise SvsegError(f"{path}: svseg.{RULE_KEY} gives {rule.num_channels} channel(s) but channel_names "
                             f"lists {len(ordered)}")
        return rule
    return derive_rule(ordered, content.get("file_ending"), path)


def derive_rule(channel_names: Sequence[str], ending: Any, path: Path | str) -> ChannelRule:
    """A rule for a dataset.json without svseg's record (see docs/prediction.md).

    2D when ``file_ending`` is one nnU-Net's 2D reader takes (``.png``, ``.bmp``, ``.tif``), else
    volumes with one channel per file. 2D is RGB (one file, three channels) when there are three
    channels, or a multiple of three all named ``rgb_to_0_1``; otherwise grey, one file per channel.
    """
    count = len(channel_names)
    if ending in _2D_ENDINGS:
        rgb = count % 3 == 0 and (count == 3 or all(n.casefold() == EIGHT_BIT_NORMALISATION for n in channel_names))
        rule = ChannelRule(2, count // 3 if rgb else count, RGB_IMAGES if rgb else GREY_IMAGES, count)
    elif ending in (*VOLUME_ENDINGS, ".tiff", ".gipl"):
        rule = ChannelRule(3, count, COMPONENTS, count)
    else:
        raise SvsegError(f"{path}: file_ending {ending!r} is not one svseg can read")
    return rule.with_channel_names(channel_names)


def plan_case(rule: ChannelRule, infos: Sequence[SourceInfo], channel_names: Sequence[str] = (),
              label: str | None = None) -> tuple[int, ...]:
    """Channels each of a case's files gives under `rule`; SvsegError naming the file when one cannot map.

    `label` names the case in a channel-count error (default: its first file).
    """
    for info in infos:
        if info.is_volume and rule.colour == RGB_IMAGES:
            raise SvsegError(f"{info.path}: a 3D volume, but the model was trained on 2D colour (RGB) images")
        if rule.needs_8bit and info.dtype != "uint8":
            raise SvsegError(f"{info.path}: {info.dtype} pixels, but {EIGHT_BIT_NORMALISATION} normalisation "
                             "(divide by 255) needs 8-bit images")
    per_file = rule.channels_per_file
    if len(infos) * (per_file or 1) != rule.num_channels:
        per_file = None  # not one file per expected group of channels: count what the files hold
    targets = tuple(_file_target(rule, info, per_file) for info in infos)
    found = sum(targets)
    if found != rule.num_channels:
        kind = {1: " (grey)", 3: " (RGB)"}.get(found, "") if len(infos) == 1 and not (
            found == 3 and infos[0].is_volume) else ""
        names = f" ({', '.join(channel_names)})" if channel_names else ""
        raise SvsegError(f"{label or infos[0].path}: has {found} channel{'s' if found != 1 else ''}{kind}, but the "
                         f"model expects {rule.num_channels}{names}")
    return targets


def _file_target(rule: ChannelRule, info: SourceInfo, per_file: int | None) -> int:
    """Channels one file gives: its own, or `per_file` when grey/equal-RGB conversion makes it fit."""
    if per_file is None or info.is_volume or info.channels == per_file:
        return info.channels
    if per_file == 1 and info.kind == EQUAL_RGB:
        return 1
    if per_file == 1 and info.kind == COLOUR:
        raise SvsegError(f"{info.path}: true-colour RGB (channels differ), but the model was trained on "
                         f"{rule.trained_on()}")
    if per_file == 3 and info.kind == GREY:
        return 3
    return info.channels


def apply_rule(rule: ChannelRule, paths: Sequence[Path], channel_names: Sequence[str] = (),
               label: str | None = None, warn: bool = True) -> list[Channel]:
    """Read a case's files and return its channels under `rule` (one Channel per output file).

    A 2D file is one Channel (grey, or RGB with three channels); a volume gives one Channel per
    component. Raises SvsegError as :func:`plan_case` does, and for unreadable files.
    """
    sources = [read_source(Path(path), warn) for path in paths]
    infos = [describe_source(Path(path), channels) for path, channels in zip(paths, sources, strict=True)]
    targets = plan_case(rule, infos, channel_names, label)
    result: list[Channel] = []
    for channels, info, target in zip(sources, infos, targets, strict=True):
        result.extend(channels if info.is_volume else [_converted(channels[0], info, target)])
    return result


def _converted(channel: Channel, info: SourceInfo, target: int) -> Channel:
    """A 2D channel with `target` channels: equal-channel RGB to grey, or grey to three equal channels."""
    array = channel.image.array
    if target == info.channels:
        return channel
    if target == 1:
        array = np.ascontiguousarray(array[..., 0])
    else:
        array = np.repeat(array[..., None], target, axis=-1)
    return dataclasses.replace(channel, image=dataclasses.replace(channel.image, array=array))
