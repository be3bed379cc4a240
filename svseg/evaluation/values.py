"""Reading stored mask values as the labels evaluate scores, so that no convention scores silently wrong.

References often stay in the user's own convention: 0/255 PNGs, palette indices, volumes
labelled {0, 1, 4}. ``svseg import`` maps such values to consecutive labels and records the
mapping in the raw dataset.json (``svseg.label_mapping``); svseg writes predictions as labels.
Each worker reads its two masks once, counts their values once (:func:`value_counts`) and
decides per file how to read them (:func:`read_case_values`); the parent then checks the
folder as a whole (:func:`check_folder`) before anything is written. Masks stored as JPEG reach
this module already read as 0/255 by the rule import reads them by (:mod:`svseg.io.lossy_masks`,
applied in :func:`svseg.io.read_mask`); the record says how many. The rules are listed in
docs/evaluation.md, "What evaluate accepts as references".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svseg.errors import SvsegError
from svseg.io.lossy_masks import MIDPOINT, is_lossy_mask, lossy_record

log = logging.getLogger(__name__)

Pairs = tuple[tuple[int, int], ...]
BINARY_255: Pairs = ((255, 1),)
_CHUNK = 1 << 22  # values counted per bincount call: bounds its int64 copy to 32 MB on large volumes


@dataclass(frozen=True)
class ValueRules:
    """How stored values become labels (plain tuples: it travels to spawned workers).

    `labels` (background 0 included) and `mapping` (source value -> label) come from a dataset
    (``-d``) or the API caller; with ``labels`` None the common 2D conventions apply instead.
    `ignore` is the stored reference value left out of every metric. `reference_space`
    ("labels" or "source") settles files whose values read differently in the two spaces.
    """

    labels: tuple[int, ...] | None = None
    mapping: Pairs = ()
    ignore: int | None = None
    reference_space: str | None = None

    @property
    def source_map(self) -> dict[int, int]:
        """Source value -> label; the identity on the labels when no mapping was recorded."""
        return dict(self.mapping) if self.mapping else {value: value for value in self.labels or ()}


@dataclass(frozen=True)
class CaseValues:
    """What one case's masks held and how they were read; small, it travels back from the worker.

    ``ref_space`` is ``labels``, ``source``, ``either`` (both read alike), ``ambiguous`` (read
    as labels until the folder decides) or ``binary_255``. ``pred_pixels`` holds (label as
    read, pixel count) for every non-zero predicted value.
    """

    case: str
    ref_file: Path
    pred_file: Path
    ref_values: tuple[int, ...]
    pred_values: tuple[int, ...]
    ref_space: str
    ref_map: Pairs
    pred_map: Pairs
    ref_labels: tuple[int, ...]
    pred_pixels: Pairs


def value_counts(array: np.ndarray) -> dict[int, int]:
    """``{value: pixel count}`` of a non-negative integer label array, in one pass."""
    flat = array.ravel()
    top = int(flat.max()) if flat.size and np.issubdtype(flat.dtype, np.integer) else None
    if top is not None and top < 65536:
        counts = np.zeros(top + 1, dtype=np.int64)
        for start in range(0, flat.size, _CHUNK):
            counts += np.bincount(flat[start:start + _CHUNK], minlength=counts.size)
        values = np.flatnonzero(counts)
        return dict(zip(values.tolist(), counts[values].tolist(), strict=True))
    values, counts = np.unique(flat, return_counts=True)
    return dict(zip((int(v) for v in values), counts.tolist(), strict=True))


def apply_map(array: np.ndarray, mapping: Pairs) -> np.ndarray:
    """A copy of `array` with each (source, label) pair replaced; the array itself when there is none."""
    if not mapping:
        return array
    out = array.copy()
    for source, label in mapping:
        out[array == source] = label
    return out


def read_case_values(case: str, gt_path: Path, pred_path: Path, ref: np.ndarray, pred: np.ndarray,
                     rules: ValueRules) -> CaseValues:
    """Decide how one case's reference and prediction are read; SvsegError when they cannot be."""
    ref_counts, pred_counts = value_counts(ref), value_counts(pred)
    ref_values, pred_values = set(ref_counts) - {rules.ignore}, set(pred_counts)
    if rules.labels is None:
        space, ref_map, pred_map = _conventions(ref_values, pred_values, rules.ignore, gt_path, pred_path)
    else:
        space, ref_map = _reference_space(ref_values, rules, gt_path)
        pred_map = _prediction_map(pred_values, ref_values, rules, pred_path, gt_path)
    ref_lookup, pred_lookup = dict(ref_map), dict(pred_map)
    ref_labels = sorted({ref_lookup.get(v, v) for v in ref_values} - {0})
    pixels: dict[int, int] = {}
    for value, count in pred_counts.items():
        label = pred_lookup.get(value, value)
        if label != 0:
            pixels[label] = pixels.get(label, 0) + count
    return CaseValues(case, gt_path, pred_path, tuple(sorted(ref_counts)), tuple(sorted(pred_counts)), space,
                      ref_map, pred_map, tuple(ref_labels), tuple(sorted(pixels.items())))


def _conventions(ref: set[int], pred: set[int], ignore: int | None, gt_path: Path,
                 pred_path: Path) -> tuple[str, Pairs, Pairs]:
    """No dataset: a 0/255 reference is read as 0/1, other values as labels (palette PNGs: their indices)."""
    if 255 in ref and ref - {0, 255}:
        raise SvsegError(f"{gt_path}: reference values {fmt(ref)} hold 255 next to other labels; if 255 marks "
                         "pixels to leave out pass --ignore-value 255, if the values are classes coded as grey "
                         "levels pass -d DATASET to use the label mapping its import recorded")
    if 255 in ref:
        if {1, 255} <= pred:
            raise _irreconcilable(pred_path, pred, gt_path, ref, "a prediction holds either 1 or 255 as "
                                  "foreground, not both")
        return "binary_255", BINARY_255, BINARY_255 if 255 in pred else ()
    binary_prediction = 255 in pred and 1 not in pred and ignore != 255 and ref <= {0, 1}
    return "labels", (), BINARY_255 if binary_prediction else ()


def _reference_space(values: set[int], rules: ValueRules, path: Path) -> tuple[str, Pairs]:
    """Per file: are the reference values labels, source values of the recorded mapping, or neither?"""
    labels, mapping = set(rules.labels or ()), rules.source_map
    in_labels, in_source = values <= labels, values <= set(mapping)
    changes = tuple((v, mapping[v]) for v in sorted(values) if v in mapping and mapping[v] != v)
    if in_labels and in_source and changes:
        if rules.reference_space == "source":
            return "source", changes
        return ("labels" if rules.reference_space == "labels" else "ambiguous"), ()
    if in_labels:
        return ("either" if in_source else "labels"), ()
    if in_source:
        return "source", changes
    if rules.mapping:
        raise SvsegError(f"{path}: reference values {fmt(values)} fit neither the labels {fmt(labels)} nor the "
                         f"source values {fmt(mapping)} of the recorded label mapping")
    raise SvsegError(f"{path}: reference values {fmt(values)} are not all labels {fmt(labels)} (and no label "
                     "mapping is recorded to read them as source values)")


def _prediction_map(values: set[int], ref: set[int], rules: ValueRules, path: Path, gt_path: Path) -> Pairs:
    """Predictions are labels; one held wholly in source values (0/255 against 0/255) is mapped the same way."""
    labels, mapping = set(rules.labels or ()), rules.source_map
    if values <= labels:
        return ()
    source_only, label_only = values & (set(mapping) - labels), values & (labels - set(mapping))
    if source_only and label_only:
        raise _irreconcilable(path, values, gt_path, ref, f"it mixes labels {fmt(label_only)} with source "
                              f"values {fmt(source_only)} of the label mapping")
    if source_only:
        return tuple((v, mapping[v]) for v in sorted(values) if v in mapping and mapping[v] != v)
    return ()


def _irreconcilable(pred_path: Path, pred: set[int], gt_path: Path, ref: set[int], why: str) -> SvsegError:
    return SvsegError(f"{pred_path}: prediction values {fmt(pred)} cannot be matched with reference values "
                      f"{fmt(ref)} ({gt_path.name}): {why}")


def settle_ambiguous(readings: list[CaseValues], rules: ValueRules) -> str:
    """The space of the folder's decided references, for files whose values read differently in the two.

    A palette mapping {0: 0, 2: 1, 3: 2} makes a reference holding {0, 2} valid both as labels and
    as source values; the other references of the folder say which convention it follows.
    """
    decided = {r.ref_space for r in readings if r.ref_space in ("labels", "source")}
    if len(decided) == 1:
        return decided.pop()
    first = next(r for r in readings if r.ref_space == "ambiguous")
    changes = ", ".join(f"{s}->{t}" for s, t in rules.mapping if s in first.ref_values and s != t)
    why = "the other references mix both" if decided else "no other reference tells which"
    raise SvsegError(f"{first.ref_file}: reference values {fmt(first.ref_values)} read differently as labels and as "
                     f"source values of the recorded label mapping ({changes}), and {why}; evaluate against "
                     "references in one convention (e.g. the dataset's labelsTr copies)")


def check_folder(readings: list[CaseValues], rules: ValueRules) -> dict[str, object]:
    """Checks across all cases, then the ``settings.values`` record of what was read how.

    Refuses predictions that share no class with the references; warns (with file and pixel
    counts) about predicted labels that are no known class, which are scored as extra classes.
    """
    if rules.labels is None:
        _one_convention(readings, rules.ignore)
        known = {label for r in readings for label in r.ref_labels}
    else:
        known = set(rules.labels) - {0, rules.ignore}
    predicted = {label for r in readings for label, _ in r.pred_pixels}
    if rules.ignore is not None and rules.ignore in predicted:
        first = next(r for r in readings if rules.ignore in dict(r.pred_pixels))
        raise SvsegError(f"{first.pred_file}: prediction values {fmt(first.pred_values)} hold the ignore value "
                         f"{rules.ignore}, which marks reference pixels to leave out and is never a prediction")
    if known and predicted and not known & predicted:
        first = next(r for r in readings if r.pred_pixels)
        references = {value for r in readings for value in r.ref_values} - {rules.ignore}
        raise SvsegError(f"{first.pred_file}: prediction values {fmt(first.pred_values)} share no class with the "
                         f"references (values {fmt(references)}, classes {fmt(known)}); predictions must hold the "
                         "references' labels")
    unexpected = _unexpected(readings, known) if known or rules.labels is not None else {}
    summary = _summary(readings, rules, unexpected)
    for note in summary["notes"][:len(summary["notes"]) - len(unexpected)]:
        log.info("values: %s", note)
    for label, entry in unexpected.items():
        log.warning("unexpected predicted label %d in %d file(s), %d px: not a class of the references %s; scored "
                    "as an extra class (every pixel a false positive)", label, entry["n_files"], entry["n_pixels"],
                    fmt(known))
    return summary


def _one_convention(readings: list[CaseValues], ignore: int | None) -> None:
    """Without a dataset, 0/255 references may sit next to 0/1 ones, never next to other grey levels."""
    binary = next((r for r in readings if r.ref_space == "binary_255"), None)
    other = next((r for r in readings if not set(r.ref_values) <= {0, 1, 255, ignore}), None)
    if binary is not None and other is not None:
        raise SvsegError(f"{other.ref_file}: reference values {fmt(other.ref_values)} do not follow the 0/255 "
                         f"convention of {binary.ref_file.name}; pass -d DATASET to use the label mapping its "
                         "import recorded")


def _unexpected(readings: list[CaseValues], known: set[int]) -> dict[int, dict[str, int]]:
    """Predicted labels that are no known class: how many files hold them and how many pixels."""
    found: dict[int, dict[str, int]] = {}
    for reading in readings:
        for label, pixels in reading.pred_pixels:
            if label not in known:
                entry = found.setdefault(label, {"n_files": 0, "n_pixels": 0})
                entry["n_files"] += 1
                entry["n_pixels"] += pixels
    return dict(sorted(found.items()))


def _summary(readings: list[CaseValues], rules: ValueRules, unexpected: dict[int, dict[str, int]]) -> dict:
    """``settings.values``: the mapping used, the files mapped or read as JPEG, unexpected labels, readable notes."""
    refs = [r for r in readings if r.ref_map]
    preds = [r for r in readings if r.pred_map]
    binary = rules.labels is None
    lossy_refs, lossy_preds = (sum(is_lossy_mask(r.ref_file) for r in readings),
                               sum(is_lossy_mask(r.pred_file) for r in readings))
    lossy = lossy_record(lossy_refs + lossy_preds)
    notes = []
    if lossy is not None:
        lossy.update(references=lossy_refs, predictions=lossy_preds)
        notes.append(f"{lossy_refs} reference and {lossy_preds} prediction file(s) were JPEG, read as binary "
                     f"(value > {MIDPOINT} is the object)")
    if refs:
        notes.append(f"{len(refs)} of {len(readings)} reference file(s) "
                     + ("held 0/255 and were read as 0/1" if binary else
                        f"held source values, mapped with the recorded label mapping ({_changes(refs, True)})"))
    if preds:
        notes.append(f"{len(preds)} prediction file(s) " + ("held 0/255 and were read as 0/1" if binary else
                     f"held source values, mapped the same way ({_changes(preds, False)})"))
    notes += [f"unexpected predicted label {label}: {e['n_files']} file(s), {e['n_pixels']} px, scored as an "
              "extra class (all false positives)" for label, e in unexpected.items()]
    mapping = dict(BINARY_255) if binary and (refs or preds) else dict(rules.mapping) or None
    return {"convention": "2D conventions (no labels given)" if binary else "given labels and label mapping",
            "label_mapping": {str(k): v for k, v in mapping.items()} if mapping else None,
            "ignore_value": rules.ignore,
            "reference_files": {"as_labels": len(readings) - len(refs), "mapped": len(refs)},
            "prediction_files_mapped": len(preds), "lossy_masks": lossy,
            "unexpected_labels": {str(k): v for k, v in unexpected.items()}, "notes": notes}


def _changes(readings: list[CaseValues], references: bool) -> str:
    pairs = sorted({pair for r in readings for pair in (r.ref_map if references else r.pred_map)})
    return ", ".join(f"{source}->{label}" for source, label in pairs)


def fmt(values: object) -> str:
    """``{0, 255}``: a value set for a message (at most 12 values shown)."""
    shown = sorted(int(v) for v in values)  # type: ignore[attr-defined]
    more = f", ... ({len(shown)} values)" if len(shown) > 12 else ""
    return "{" + ", ".join(str(v) for v in shown[:12]) + more + "}"
