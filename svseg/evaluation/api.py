"""``evaluate_folders``: the one entry point for ``svseg evaluate`` and the trainer's final validation.

It pairs the files, evaluates every case (in parallel over cases with a process pool, or
sequentially for ``num_workers=1``), pools the results into the ``object``, ``image``,
``paper`` and (for 3D) ``volume`` blocks of evaluation.md, and writes ``metrics.json``,
``report.md``, ``report.html``, the charts and the overlays (on the images of ``images_dir``
when given) atomically. Every input check runs before the first write, so a bad input leaves
the output folder untouched.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

from svseg.errors import SvsegError
from svseg.evaluation.aggregate import image_block, object_block, pool_cases
from svseg.evaluation.case import CaseOptions, CaseResult, evaluate_case
from svseg.evaluation.inputs import (
    CasePair,
    labels_from_dataset_json,
    mapping_from_dataset_json,
    pair_cases,
    split_labels,
)
from svseg.evaluation.overlay_data import find_images
from svseg.evaluation.paper import paper_block
from svseg.evaluation.records import clean, object_records, slice_records
from svseg.evaluation.uncertainty import case_components, uncertainty_block
from svseg.evaluation.values import ValueRules, check_folder, settle_ambiguous
from svseg.evaluation.volume import volume_block
from svseg.objects import STRATA
from svseg.utils.fs import atomic_write_json, atomic_write_text, check_output_dir
from svseg.utils.progress import make_progress, track

log = logging.getLogger(__name__)

PROTOCOL = "svseg-eval-1"


@dataclass
class EvaluationResult:
    """What an evaluation produced: the metrics dict (as written to JSON) and where files went."""

    metrics: dict
    out_dir: Path
    metrics_path: Path
    report_path: Path
    plot_paths: list[Path] = field(default_factory=list)
    html_path: Path | None = None

    def summary_table(self) -> list[dict[str, str]]:
        """The headline per stratum as printable strings: object block, overlap-rule lesion F1, image Dice."""
        rows = []
        for stratum in STRATA:
            obj, img = self.metrics["object"][stratum], self.metrics["image"][stratum]
            lesions = obj["detection"]["overlap"]
            rows.append({"stratum": stratum, "n obj": str(obj["n_objects"]), "Dice": _fmt(obj["dice"]),
                         "sens.": _fmt(obj["sensitivity"]), "prec.": _fmt(obj["precision"]), "F2": _fmt(obj["f2"]),
                         "HD95": _fmt(obj["hd95"], 1), "les. F1": _fmt(lesions["f1"]),
                         "img Dice": _fmt(img["dice"])})
        return rows


def dataset_labels(dataset: str) -> dict[str, int]:
    """The ``labels`` of a dataset's raw ``dataset.json`` (``-d``), ignore label included."""
    from svseg.paths import resolve_dataset

    foreground, ignore = labels_from_dataset_json(resolve_dataset(dataset).raw_dir / "dataset.json")
    return {**foreground, **({"ignore": ignore} if ignore is not None else {})}


def dataset_label_mapping(dataset: str) -> dict[int, int] | None:
    """The source value -> label mapping the dataset's import recorded (``-d``), None when there is none."""
    from svseg.paths import resolve_dataset

    return mapping_from_dataset_json(resolve_dataset(dataset).raw_dir / "dataset.json")


def evaluate_folders(pred_dir: Path, gt_dir: Path, out_dir: Path | None = None, labels: dict[str, int] | None = None,
                     thresholds: tuple[float, float] = (0.01, 0.1), num_workers: int | None = None,
                     file_ending: str | None = None, *, chill: bool = False, slice_axis: int | None = None,
                     slice_step: int = 1, paper_grid: int | None = None, plots: bool = True,
                     label_mapping: dict[int, int] | None = None, ignore_value: int | None = None,
                     images_dir: Path | None = None) -> EvaluationResult:
    """Evaluate every prediction in `pred_dir` against the reference of the same stem in `gt_dir`.

    `labels` maps class names to values as in ``dataset.json`` (``background`` and an
    ``ignore`` entry allowed); without it, the classes are the non-zero values found.
    `label_mapping` (source value -> label, as import records it) lets references keep their
    source values; `ignore_value` is a stored reference value left out of every metric.
    `thresholds` are the ultra-small and small area-ratio limits (fractions, strict <).
    `chill` evaluates only predictions that have a reference instead of demanding one
    prediction per reference. `slice_axis` overrides the slicing-axis rule for volumes,
    `slice_step` keeps every k-th slice (plus the last), `paper_grid` resizes masks for the
    paper block only. `images_dir` holds the cases' images (``CASE_0000.<ending>`` or
    ``CASE.<ending>``) for the overlays; without it they show the masks only. Output goes to
    `out_dir` (default ``pred_dir/evaluation``).
    """
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    _check_settings(thresholds, slice_step, paper_grid, num_workers)
    check_output_dir(out_dir if out_dir is not None else pred_dir / "evaluation", "evaluation output")
    if labels is None and label_mapping:
        labels = {str(value): value for value in sorted(set(label_mapping.values()))}
    foreground, ignore_label = split_labels(labels) if labels is not None else ({}, None)
    rules = value_rules(foreground if labels is not None else None, label_mapping, ignore_label, ignore_value)
    given = tuple(sorted(foreground.values())) if labels is not None else None
    options = CaseOptions(classes=given, ignore_label=rules.ignore, slice_axis=slice_axis, slice_step=slice_step,
                          paper_grid=paper_grid, values=rules)
    pairs = pair_cases(pred_dir, gt_dir, file_ending, chill)
    images = find_images(Path(images_dir), [pair.case for pair in pairs]) if images_dir is not None else None
    results = sorted(run_cases(pairs, options, num_workers), key=lambda result: result.case)
    results = settle_references(results, pairs, options, num_workers)
    values = check_folder([result.values for result in results], rules)
    classes = tuple(sorted({c for r in results for c in r.classes}.union(given or ())))
    if not classes:
        log.warning("no foreground label in any reference or prediction: every metric is undefined")
    names = {value: name for name, value in foreground.items()}
    metrics = build_metrics(results, classes, names, thresholds, options, values)
    metrics["settings"]["images"] = str(images_dir) if images_dir is not None else None
    out_dir = Path(out_dir) if out_dir is not None else pred_dir / "evaluation"
    axes = {result.case: result.slice_axis for result in results}
    by_case = {pair.case: pair for pair in pairs}
    read_as = {r.case: replace(by_case[r.case], ref_map=r.values.ref_map, pred_map=r.values.pred_map) for r in results}
    return write_outputs(metrics, out_dir, read_as, axes, plots, images)


def value_rules(foreground: dict[str, int] | None, mapping: dict[int, int] | None, dataset_ignore: int | None,
                ignore_value: int | None) -> ValueRules:
    """The value rules for every case; an ignore value that would hide background or a class is refused."""
    if ignore_value is not None:
        if ignore_value < 2:
            raise SvsegError(f"ignore value {ignore_value}: must be 2 or more (0 is background, 1 the first class); "
                             "nnU-Net's ignore label is the highest value, e.g. 255")
        if dataset_ignore is not None and dataset_ignore != ignore_value:
            raise SvsegError(f"ignore value {ignore_value}: the dataset's labels already name {dataset_ignore} "
                             "as their ignore label")
        classes = {value: name for name, value in (foreground or {}).items()}
        if ignore_value in classes:
            raise SvsegError(f"ignore value {ignore_value}: it is the class {classes[ignore_value]!r} of the labels")
    ignore = ignore_value if ignore_value is not None else dataset_ignore
    labels = None if foreground is None else tuple(sorted({0, *foreground.values()}))
    return ValueRules(labels=labels, mapping=tuple(sorted((mapping or {}).items())), ignore=ignore)


def settle_references(results: list[CaseResult], pairs: list[CasePair], options: CaseOptions,
                      num_workers: int | None) -> list[CaseResult]:
    """Re-read, in the folder's convention, the few references whose values fit both labels and source values."""
    readings = [result.values for result in results]
    ambiguous = {result.case for result in results if result.values.ref_space == "ambiguous"}
    if not ambiguous:
        return results
    space = settle_ambiguous(readings, options.values)
    if space == "labels":  # read as labels already: only the record changes
        for result in results:
            if result.case in ambiguous:
                result.values = replace(result.values, ref_space="labels")
        return results
    settled = replace(options, values=replace(options.values, reference_space=space))
    again = run_cases([pair for pair in pairs if pair.case in ambiguous], settled, num_workers)
    return sorted([r for r in results if r.case not in ambiguous] + again, key=lambda result: result.case)


def run_cases(pairs: list[CasePair], options: CaseOptions, num_workers: int | None) -> list[CaseResult]:
    """Evaluate cases with a progress bar: sequentially for one worker, else in a spawn pool.

    Spawned workers (as in nnU-Net) are safe to start from a process that already holds
    CUDA or thread pools, such as the trainer. The first bad case stops the rest.
    """
    workers = min(num_workers or os.cpu_count() or 1, len(pairs))
    if workers <= 1:
        return [evaluate_case(pair, options) for pair in track(pairs, "evaluating cases")]
    results = []
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        futures = [pool.submit(evaluate_case, pair, options) for pair in pairs]
        with make_progress() as progress:
            task = progress.add_task("evaluating cases", total=len(futures))
            for future in as_completed(futures):
                results.append(future.result())
                progress.advance(task)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def build_metrics(results: list[CaseResult], classes: tuple[int, ...], names: dict[int, str],
                  thresholds: tuple[float, float], options: CaseOptions, values: dict | None = None) -> dict:
    """The ``metrics.json`` dict of evaluation-protocol.md B11 (NaN already turned into None).

    `values` is the record of how stored values were read (``settings.values``).
    """
    pooled = pool_cases(results, classes)
    axes = sorted({r.slice_axis for r in results if r.slice_axis is not None})
    metrics = {
        "protocol": PROTOCOL,
        "settings": {"thresholds": {"ultra_small": thresholds[0], "small": thresholds[1]}, "connectivity": 8,
                     "labels": {str(c): names.get(c, str(c)) for c in classes},
                     "slice_axis": axes[0] if len(axes) == 1 else (axes or None), "ignore_label": options.ignore_label,
                     "detection_rules": ["overlap", "iou50"], "slice_step": options.slice_step,
                     "paper_grid": options.paper_grid, "hd95": "medpy-style, pooled both directions, mm",
                     "n_cases": len(results), "cases": [r.case for r in results], "values": values},
        "object": object_block(pooled, thresholds),
        "image": image_block(pooled, thresholds),
        "paper": paper_block(pooled.paper, pooled.slices["r_img"], thresholds),
    }
    per_case = case_components(pooled, thresholds)
    metrics["uncertainty"] = uncertainty_block(per_case, [str(c) for c in classes])
    volumes = [(r.case, {c: cr.volume for c, cr in r.per_class.items() if cr.volume is not None}, r.n_valid_voxels)
               for r in results if r.is_volume]
    if volumes:
        metrics["volume"] = volume_block(volumes, classes, thresholds)
    metrics["per_case"] = per_case
    metrics["slices"] = slice_records(pooled)
    metrics["objects"] = object_records(pooled)
    return clean(metrics)


def write_outputs(metrics: dict, out_dir: Path, pairs: dict[str, CasePair], slice_axes: dict[str, int | None],
                  plots: bool, images: dict[str, Path] | None = None) -> EvaluationResult:
    """Write metrics.json, report.md, report.html and (optionally) the charts and overlays, each atomically.

    `images` maps cases to their image files; None means no image folder was given.
    """
    from svseg.evaluation.html_report import write_html_report
    from svseg.evaluation.report import render_report

    result = EvaluationResult(metrics, out_dir, out_dir / "metrics.json", out_dir / "report.md")
    overlays = []
    if plots:
        from svseg.evaluation.overlays import choose_figures, write_overlays
        from svseg.evaluation.plots import write_plots

        result.plot_paths = write_plots(metrics, out_dir)
        overlays = write_overlays(choose_figures(metrics), out_dir, pairs, slice_axes, images or {})
    atomic_write_json(result.metrics_path, metrics)
    atomic_write_text(result.report_path, render_report(metrics, [p.name for p in result.plot_paths], overlays))
    result.html_path = write_html_report(metrics, out_dir / "report.html", result.plot_paths, overlays)
    result.plot_paths += [figure.path for figure in overlays if figure.path is not None]
    log.info("evaluation of %d cases written to %s", metrics["settings"]["n_cases"], out_dir)
    return result


def _check_settings(thresholds: tuple[float, float], slice_step: int, paper_grid: int | None,
                    num_workers: int | None) -> None:
    """Reject impossible settings before any file is read."""
    if len(thresholds) != 2 or not 0 < thresholds[0] <= thresholds[1] <= 1:
        raise SvsegError(f"thresholds {thresholds}: need 0 < ultra_small <= small <= 1 (fractions of the slice)")
    if slice_step < 1:
        raise SvsegError(f"--slice-step {slice_step}: must be 1 or more")
    if paper_grid is not None and paper_grid < 1:
        raise SvsegError(f"--paper-grid {paper_grid}: must be a positive size in pixels")
    if num_workers is not None and num_workers < 1:
        raise SvsegError(f"-j {num_workers}: the number of workers must be 1 or more")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"
