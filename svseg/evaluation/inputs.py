"""Finding, pairing and loading the masks to evaluate; every bad input is one SvsegError.

Files are paired by stem (``case_001.nii.gz`` with ``case_001.png`` would pair too; formats
may differ). By default every reference needs a prediction, as nnU-Net's CLIs demand;
``chill`` evaluates only the predictions whose stem has a reference, as nnU-Net's final
validation does. All checks that can fail run before anything is written.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svseg.errors import SvsegError
from svseg.evaluation.values import Pairs, apply_map
from svseg.io import Image, file_ending, read_mask, stem_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CasePair:
    """One case: its stem, reference and prediction files, and how their values are read once settled.

    ``ref_map`` and ``pred_map`` are (stored value, label) pairs from :mod:`svseg.evaluation.values`;
    they are empty until a case was evaluated, and let the plots re-read the masks the same way.
    """

    case: str
    gt_path: Path
    pred_path: Path
    ref_map: Pairs = ()
    pred_map: Pairs = ()


def list_masks(folder: Path, ending: str | None, role: str) -> dict[str, Path]:
    """Supported files directly in `folder` by stem (hidden files and other types skipped)."""
    if not folder.is_dir():
        raise SvsegError(f"{folder}: {role} folder does not exist")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or not file_ending(path):
            continue
        if ending is not None and file_ending(path) != ending:
            continue
        stem = stem_of(path)
        if stem in found:
            raise SvsegError(f"{path}: two {role} files share the stem {stem!r} ({found[stem].name})")
        found[stem] = path
    return found


def pair_cases(pred_dir: Path, gt_dir: Path, file_ending: str | None = None, chill: bool = False) -> list[CasePair]:
    """Reference/prediction pairs sorted by stem, so results never depend on listing order."""
    references = list_masks(gt_dir, file_ending, "reference")
    predictions = list_masks(pred_dir, file_ending, "prediction")
    if not references:
        raise SvsegError(f"{gt_dir}: no reference masks found (supported: NIfTI, NRRD, MHA, PNG, JPG, BMP, TIFF)")
    missing = sorted(set(references) - set(predictions))
    if missing and not chill:
        names = ", ".join(references[stem].name for stem in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise SvsegError(f"{pred_dir}: no prediction for {names}{more} (use chill mode to evaluate only "
                         "the predictions present)")
    extra = sorted(set(predictions) - set(references))
    if extra:
        log.warning("%d prediction(s) without a reference are skipped: %s", len(extra), ", ".join(extra[:5]))
    pairs = [CasePair(stem, references[stem], predictions[stem]) for stem in sorted(references) if stem in predictions]
    if not pairs:
        raise SvsegError(f"{pred_dir}: no prediction matches a reference in {gt_dir}")
    return pairs


def load_pair(pair: CasePair) -> tuple[Image, Image]:
    """Read both masks, check they lie on the same grid, make their arrays integer labels (mapped if settled)."""
    gt, pred = read_mask(pair.gt_path), read_mask(pair.pred_path)
    if gt.spatial_shape != pred.spatial_shape:
        raise SvsegError(f"{pair.pred_path}: shape mismatch, prediction {pred.spatial_shape} vs reference "
                         f"{gt.spatial_shape} ({pair.gt_path.name}); svseg never resamples")
    problems = gt.geometry_matches(pred) if gt.is_volume == pred.is_volume else ["2D vs 3D"]
    if problems:
        raise SvsegError(f"{pair.pred_path}: geometry mismatch with {pair.gt_path.name}: {'; '.join(problems)}")
    gt.array = apply_map(_as_labels(gt), pair.ref_map)
    pred.array = apply_map(_as_labels(pred), pair.pred_map)
    return gt, pred


def _as_labels(image: Image) -> np.ndarray:
    """The array as non-negative integer labels; float files must hold whole numbers."""
    array = image.array
    if np.issubdtype(array.dtype, np.bool_):
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise SvsegError(f"{image.source}: mask holds non-integer values; expected a label map")
        array = array.astype(np.int32)
    if array.size and array.min() < 0:
        raise SvsegError(f"{image.source}: mask holds negative labels; expected a label map")
    return array


def labels_from_dataset_json(path: Path) -> tuple[dict[str, int], int | None]:
    """Foreground ``{name: value}`` and the ignore label from an nnU-Net ``dataset.json``."""
    if not path.is_file():
        raise SvsegError(f"{path}: dataset.json not found")
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))["labels"]
    except (json.JSONDecodeError, KeyError, UnicodeDecodeError) as exc:
        raise SvsegError(f"{path}: cannot read 'labels' ({type(exc).__name__}: {exc})") from None
    if any(not isinstance(value, int) for value in labels.values()):
        raise SvsegError(f"{path}: region-based labels (lists) are not supported by svseg evaluate")
    return split_labels(labels)


def mapping_from_dataset_json(path: Path) -> dict[int, int] | None:
    """The source value -> label mapping svseg's import recorded (``svseg.label_mapping``), if any."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SvsegError(f"{path}: cannot read the label mapping ({type(exc).__name__}: {exc})") from None
    recorded = (content.get("svseg") or {}).get("label_mapping") if isinstance(content, dict) else None
    if not recorded:
        return None
    try:
        return {int(source): int(label) for source, label in recorded.items()}
    except (AttributeError, TypeError, ValueError):
        raise SvsegError(f"{path}: svseg.label_mapping must map source values to integer labels") from None


def split_labels(labels: dict[str, int]) -> tuple[dict[str, int], int | None]:
    """Drop background (value 0) and pull out the ``ignore`` entry, nnU-Net style."""
    regions = [name for name, value in labels.items() if not isinstance(value, int | np.integer)]
    if regions:
        raise SvsegError(f"labels {', '.join(regions)}: only integer label values are supported (no regions)")
    ignore = labels.get("ignore")
    foreground = {name: int(value) for name, value in labels.items() if name != "ignore" and int(value) != 0}
    return foreground, ignore
