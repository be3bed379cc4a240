"""The paper-compatible block: the official SvANet recipe, quirks included (evaluation-protocol.md A2, B10).

This exists only so svseg numbers can sit next to published ones; it is never the headline.
What it reproduces on purpose:

- background is a class, and class means are weighted by the number of slices whose
  reference contains each class ("micro" averaging), which is why its numbers run high;
- intersection, prediction and reference areas are pooled over every pixel of every slice in
  the stratum, with eps = 1e-7 in every denominator;
- F2 is built from the pooled precision and recall;
- empty-reference slices have ratio 0 and so belong to every stratum;
- MAE is the mean |predicted label - binarised reference| over all pixels, and
  ``mae_as_written`` divides it again by the number of slices, as the official CSV does.

Not reproduced: the official loop's skipped rows (it stops once a stratum holds every image,
and skips a subset holding only image 0); svseg always writes all three strata.
"""

from __future__ import annotations

import numpy as np

from svseg.objects import strata_masks

EPS = 1e-7
QUIRKS = ("background_included", "image_count_weighted_class_mean", "pooled_over_stratum", "eps_1e-7",
          "empty_reference_slices_in_every_stratum", "mae_on_hard_labels_vs_binarised_reference",
          "mae_as_written_divided_by_n_slices")


def resize_nearest(stack: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of a (S, H, W) label stack to (S, size, size), pixel-centre rule."""
    rows = np.minimum(((np.arange(size) + 0.5) * stack.shape[1] / size).astype(np.int64), stack.shape[1] - 1)
    cols = np.minimum(((np.arange(size) + 0.5) * stack.shape[2] / size).astype(np.int64), stack.shape[2] - 1)
    return stack[:, rows][:, :, cols]


def paper_counts(ref: np.ndarray, pred: np.ndarray, classes: tuple[int, ...], ignore_label: int | None,
                 grid: int | None = None) -> dict[str, np.ndarray]:
    """Per slice: intersection / predicted / reference pixels for background and each class.

    Returns arrays ``inter``, ``pred``, ``ref`` of shape (S, 1 + K) (column 0 = background),
    ``mae_sum`` and ``n_pixels`` of shape (S,). `grid` resizes both stacks first (B10
    ``--paper-grid``).
    """
    if grid:
        ref, pred = resize_nearest(ref, grid), resize_nearest(pred, grid)
    valid = np.ones(ref.shape, dtype=bool) if ignore_label is None else ref != ignore_label
    columns = {"inter": [], "pred": [], "ref": []}
    for label in (0, *classes):
        ref_c, pred_c = (ref == label) & valid, (pred == label) & valid
        columns["inter"].append(np.count_nonzero(ref_c & pred_c, axis=(1, 2)))
        columns["pred"].append(np.count_nonzero(pred_c, axis=(1, 2)))
        columns["ref"].append(np.count_nonzero(ref_c, axis=(1, 2)))
    error = np.abs(pred.astype(np.int64) - (ref != 0)) * valid
    out = {key: np.stack(value, axis=1).astype(np.int64) for key, value in columns.items()}
    out["mae_sum"] = error.sum(axis=(1, 2)).astype(np.int64)
    out["n_pixels"] = valid.sum(axis=(1, 2)).astype(np.int64)
    return out


def paper_stratum(counts: dict[str, np.ndarray], selected: np.ndarray) -> dict[str, float | int | None]:
    """The official pooled, background-included, image-weighted metrics for the selected slices."""
    n_slices = int(selected.sum())
    inter, pred, ref = (counts[key][selected].sum(axis=0).astype(np.float64) for key in ("inter", "pred", "ref"))
    weights = (counts["ref"][selected] > 0).sum(axis=0).astype(np.float64)
    recall = inter / (ref + EPS)
    precision = inter / (pred + EPS)
    per_class = {
        "mdice": 2 * inter / (ref + pred + EPS),
        "miou": inter / (ref + pred - inter + EPS),
        "recall": recall,
        "precision": precision,
        "f2": 5 * precision * recall / (4 * precision + recall + EPS),
    }
    total = weights.sum()
    out: dict[str, float | int | None] = {"n_slices": n_slices}
    for name, values in per_class.items():
        out[name] = float((weights * values).sum() / total) if total else None
    pixels = counts["n_pixels"][selected].sum()
    out["mae"] = float(counts["mae_sum"][selected].sum() / pixels) if pixels else None
    out["mae_as_written"] = out["mae"] / n_slices if out["mae"] is not None else None
    return out


def paper_block(counts: dict[str, np.ndarray], image_ratio: np.ndarray, thresholds: tuple[float, float],
                ratio_method: str = "pixels") -> dict[str, dict]:
    """``{stratum: metrics}``: strata by the slice's largest-object ratio, empty slices in all."""
    block = {}
    for stratum, selected in strata_masks(image_ratio, thresholds).items():
        block[stratum] = {"n_slices": int(selected.sum()), "ratio_method": ratio_method,
                          **paper_stratum(counts, selected)}
    block["quirks"] = list(QUIRKS)
    return block
