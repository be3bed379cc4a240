"""Per-object counts in Voronoi zones (docs/design/evaluation-protocol.md B6).

Each reference object G_k of a class owns the zone Z_k of pixels whose nearest reference
pixel (of that class, in that slice) belongs to it. Every predicted pixel of the slice then
lands in exactly one zone, so no false positive is lost or counted twice, and a slice with a
single object gets the whole slice as its zone (object metrics = image metrics). This is the
per-component idea of CC-Metrics ("Every Component Counts", arXiv 2410.18684).

One Euclidean distance transform per slice with two or more objects gives the zones through
its nearest-feature indices; all counts are ``np.bincount`` over zone labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from svseg.evaluation.surface import hd95
from svseg.objects import Components


@dataclass
class ObjectCounts:
    """Per reference object (in label order): zone size and TP/FP/FN/TN inside its zone, HD95 in mm."""

    zone_px: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray
    hd95: np.ndarray


def zone_map(object_labels: np.ndarray, spacing_yx: tuple[float, float]) -> np.ndarray:
    """Label image assigning every pixel of one slice to its nearest reference object.

    Ties between equidistant objects go the way the distance transform resolves them,
    deterministically.
    """
    background = object_labels == 0
    if not background.any():
        return object_labels
    nearest = ndimage.distance_transform_edt(background, sampling=spacing_yx, return_distances=False,
                                             return_indices=True)
    return object_labels[nearest[0], nearest[1]]


def object_counts(ref: Components, pred: np.ndarray, valid: np.ndarray | None,
                  spacing_yx: tuple[float, float], with_hd95: bool = True) -> ObjectCounts:
    """Zone counts for every reference object of one class in a (S, H, W) stack.

    `pred` is the class's boolean prediction (ignored pixels already removed), `valid` the
    non-ignored pixels or None.
    """
    n = ref.count
    out = ObjectCounts(*(np.zeros(n, dtype=np.int64) for _ in range(5)), hd95=np.full(n, np.nan))
    if not n:
        return out
    for s in np.unique(ref.slice_index):
        first = int(np.searchsorted(ref.slice_index, s))
        last = int(np.searchsorted(ref.slice_index, s, side="right"))
        local = np.where(ref.labels[s] > 0, ref.labels[s] - first, 0)
        zones = zone_map(local, spacing_yx) if last - first > 1 else np.ones_like(local)
        _slice_counts(out, slice(first, last), local, zones, pred[s], None if valid is None else valid[s])
        if with_hd95:
            _slice_hd95(out.hd95, first, last - first, local, zones, pred[s], spacing_yx)
    out.fn = ref.area - out.tp
    out.tn = out.zone_px - out.tp - out.fp - out.fn
    return out


def _slice_counts(out: ObjectCounts, rows: slice, local: np.ndarray, zones: np.ndarray,
                  pred: np.ndarray, valid: np.ndarray | None) -> None:
    """Fill TP, FP and zone size for the objects of one slice (local labels 1..k)."""
    k = rows.stop - rows.start
    out.tp[rows] = np.bincount(local[pred], minlength=k + 1)[1:]
    out.fp[rows] = np.bincount(zones[pred & (local == 0)], minlength=k + 1)[1:]
    in_zone = zones if valid is None else zones[valid]
    out.zone_px[rows] = np.bincount(in_zone.ravel(), minlength=k + 1)[1:]


def _slice_hd95(out: np.ndarray, first: int, k: int, local: np.ndarray, zones: np.ndarray,
                pred: np.ndarray, spacing_yx: tuple[float, float]) -> None:
    """HD95 between each object and the prediction inside its zone (NaN where none is predicted)."""
    ref_boxes = ndimage.find_objects(local, max_label=k)
    pred_boxes = ndimage.find_objects(np.where(pred, zones, 0), max_label=k)
    for index in range(k):
        if pred_boxes[index] is None:
            continue
        box = tuple(slice(min(a.start, b.start), max(a.stop, b.stop))
                    for a, b in zip(ref_boxes[index], pred_boxes[index], strict=True))
        label = index + 1
        out[first + index] = hd95(local[box] == label, pred[box] & (zones[box] == label), spacing_yx)
