"""``report.md``: the metrics of ``metrics.json`` as tables a person reads, plus the worst cases.

Only formatting lives here; every number comes from the metrics dict, so the report can be
re-rendered from a saved ``metrics.json``. Values print as fractions with three decimals
(HD95 in mm with two); ``–`` is an undefined value (JSON null). Headline figures carry their
95 % case-bootstrap interval in brackets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from svseg.objects import STRATA

if TYPE_CHECKING:
    from svseg.evaluation.overlays import OverlayFigure

PIXEL_COLUMNS = (("dice", "Dice"), ("iou", "IoU"), ("sensitivity", "sens."), ("precision", "prec."),
                 ("specificity", "spec."), ("f2", "F2"))
WORST = 10
ROUGH_BELOW = 10  # cases: fewer make a bootstrap interval a rough guide only


def render_report(metrics: dict, plot_names: list[str], overlays: list[OverlayFigure] | None = None) -> str:
    """The whole markdown report; `overlays` are the overlay figures written beside it."""
    parts = [_header(metrics), headline_section(metrics), _object_section(metrics), _detection_section(metrics),
             _image_section(metrics)]
    if "volume" in metrics:
        parts.append(_volume_section(metrics["volume"], metrics["settings"]["labels"]))
    parts += [_paper_section(metrics["paper"]), _worst_section(metrics)]
    if overlays:
        parts.append(_overlay_section(overlays, metrics))
    if plot_names:
        parts.append("## Plots\n\n" + "\n".join(f"![{name}]({name})" for name in plot_names))
    return "\n\n".join(parts) + "\n"


def with_interval(interval: dict | None, digits: int = 3) -> str:
    """``0.812 [0.751, 0.866]``; the estimate alone when no interval exists (one case, empty stratum)."""
    if not interval or interval.get("estimate") is None:
        return "–"
    if interval.get("low") is None or interval.get("high") is None:
        return _fmt(interval["estimate"], digits)
    return f"{interval['estimate']:.{digits}f} [{interval['low']:.{digits}f}, {interval['high']:.{digits}f}]"


def interval_note(metrics: dict) -> str:
    """One sentence on how the intervals were made (or why there are none)."""
    block = metrics.get("uncertainty") or {}
    if not block:
        return "No intervals: this metrics.json predates them."
    if block["n_cases"] < 2:
        return "No intervals: one case gives no case-to-case variation to resample."
    rough = (f" With only {block['n_cases']} cases it is a rough guide: resampling cannot show more variation "
             "than these few cases hold." if block["n_cases"] < ROUGH_BELOW else "")
    return (f"[low, high] is the {block['level']:.0%} percentile interval of a bootstrap over cases "
            f"({block['n_resamples']} resamples of the {block['n_cases']} cases, seed {block['seed']}): cases "
            f"are the independent units, and each resample pools its cases' objects and slices.{rough}")


def headline_section(metrics: dict) -> str:
    """The three headline figures per stratum with their intervals."""
    strata = (metrics.get("uncertainty") or {}).get("strata", {})
    rows = []
    for stratum in STRATA:
        figures = strata.get(stratum, {})
        rows.append([f"**{stratum}**", str(metrics["object"][stratum]["n_objects"]),
                     with_interval(figures.get("object_dice")), with_interval(figures.get("detection_f1")),
                     str(metrics["image"][stratum]["n_slices"]), with_interval(figures.get("image_dice"))])
    header = ["stratum", "objects", "object Dice [95 % CI]", "detection F1 [95 % CI]", "slices",
              "image Dice [95 % CI]"]
    return "## Headline\n\n" + _table(header, rows) + "\n\n" + interval_note(metrics)


def _fmt(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _metric_cells(entry: dict, with_mae: bool = False) -> list[str]:
    cells = [_fmt(entry.get(key)) for key, _ in PIXEL_COLUMNS]
    if with_mae:
        cells.append(_fmt(entry.get("mae"), 4))
    return [*cells, _fmt(entry.get("hd95"), 2)]


def _header(metrics: dict) -> str:
    settings = metrics["settings"]
    t = settings["thresholds"]
    labels = ", ".join(f"{value} = {name}" for value, name in settings["labels"].items()) or "none found"
    axis = "none (2D images)" if settings["slice_axis"] is None else settings["slice_axis"]
    notes = "".join(f"- values: {note}\n" for note in (settings.get("values") or {}).get("notes", []))
    notes += f"- {images_note(settings)}\n"
    return (f"# svseg evaluation ({metrics['protocol']})\n\n"
            f"- cases: {settings['n_cases']}; classes: {labels}; ignore label: {settings['ignore_label']}\n"
            f"{notes}"
            f"- strata (cumulative, strict <): ultra_small < {t['ultra_small']:.0%} of the slice, "
            f"small < {t['small']:.0%}, all\n"
            f"- objects: 8-connected components per class and slice; slice axis: {axis}\n"
            "- fractions in [0, 1]; HD95 in mm; – = undefined")


def _object_section(metrics: dict) -> str:
    header = ["stratum", "class", "objects", "slices", *(name for _, name in PIXEL_COLUMNS), "HD95"]
    rows = []
    for stratum in STRATA:
        block = metrics["object"][stratum]
        rows.append([f"**{stratum}**", "mean", str(block["n_objects"]), str(block["n_slices"]), *_metric_cells(block)])
        for label, entry in block["per_class"].items():
            name = metrics["settings"]["labels"].get(label, label)
            rows.append(["", name, str(entry["n_objects"]), str(entry["n_slices"]), *_metric_cells(entry)])
    return ("## Object level (headline)\n\nEach reference object is scored in its Voronoi zone and sits in the "
            "strata of its own area ratio; every object weighs 1.\n\n" + _table(header, rows))


def _detection_section(metrics: dict) -> str:
    header = ["stratum", "rule", "ref", "detected", "pred", "true", "recall", "precision", "F1"]
    rows = []
    for stratum in STRATA:
        for rule, entry in metrics["object"][stratum]["detection"].items():
            rows.append([stratum, rule, *(str(entry[k]) for k in ("n_ref", "n_ref_detected", "n_pred", "n_pred_true")),
                         _fmt(entry["recall"]), _fmt(entry["precision"]), _fmt(entry["f1"])])
    return ("## Lesion-wise detection\n\n`overlap`: any shared pixel; `iou50`: IoU > 0.5. A false detection "
            "is stratified by its own area ratio.\n\n" + _table(header, rows))


def _image_section(metrics: dict) -> str:
    header = ["stratum", "class", "slices", *(name for _, name in PIXEL_COLUMNS), "MAE", "HD95", "pooled Dice"]
    rows = []
    for stratum in STRATA:
        block = metrics["image"][stratum]
        rows.append([f"**{stratum}**", "mean", str(block["n_slices"]), *_metric_cells(block, True),
                     _fmt(block["pooled"]["dice"])])
        for label, entry in block["per_class"].items():
            name = metrics["settings"]["labels"].get(label, label)
            rows.append(["", name, str(entry["n_slices"]), *_metric_cells(entry, True), _fmt(entry["pooled"]["dice"])])
    empty = metrics["image"]["empty"]
    return ("## Image level (nnU-Net comparable)\n\nSlices stratified by their largest object; empty-reference "
            "slices only in `all`. Per-slice means (nanmean), background excluded.\n\n" + _table(header, rows)
            + f"\n\nEmpty-reference slices: {empty['n_slices']}, with false positives: "
            f"{empty['n_with_false_positive']}, FP-free rate: {_fmt(empty['fp_free_rate'])}, "
            f"mean FP pixels: {_fmt(empty['mean_fp_pixels'], 1)}")


def _volume_section(volume: dict, labels: dict[str, str]) -> str:
    header = ["class", *(name for _, name in PIXEL_COLUMNS), "HD95"]
    rows = [[labels.get(label, label), *_metric_cells(entry)] for label, entry in volume["mean"].items()]
    rows.append(["foreground mean", *_metric_cells(volume["foreground_mean"])])
    det = [[s, rule, str(e["n_ref"]), str(e["n_ref_detected"]), str(e["n_pred"]), _fmt(e["recall"]),
            _fmt(e["precision"]), _fmt(e["f1"])] for s in STRATA for rule, e in volume["detection"][s].items()]
    return (f"## Volume level ({volume['n_volumes']} volumes, nnU-Net's per-case metrics)\n\n" + _table(header, rows)
            + "\n\n3D lesions (26-connected), stratified by their largest cross-section:\n\n"
            + _table(["stratum", "rule", "ref", "detected", "pred", "recall", "precision", "F1"], det))


def _paper_section(paper: dict) -> str:
    header = ["stratum", "slices", "mDice", "mIoU", "recall", "precision", "F2", "MAE", "MAE as written"]
    rows = [[s, str(paper[s]["n_slices"]), *(_fmt(paper[s][k]) for k in ("mdice", "miou", "recall", "precision", "f2")),
             _fmt(paper[s]["mae"], 4), _fmt(paper[s]["mae_as_written"], 6)] for s in STRATA]
    return ("## Comparison with the SvANet paper\n\nThe official recipe: **background included**, pooled over the "
            "stratum, classes weighted by slice counts, empty slices in every stratum. Not comparable with the "
            "tables above.\n\n" + _table(header, rows))


def images_note(settings: dict) -> str:
    """Whether the overlays show the real images."""
    if settings.get("images"):
        return f"overlays: outlines on the images of {settings['images']}"
    return ("overlays: masks only, on a dark background (no images were given; "
            "`svseg evaluate --images DIR` draws them on the images)")


def _overlay_section(overlays: list[OverlayFigure], metrics: dict) -> str:
    """Each overlay figure with its panels' full case ids."""
    parts = ["## Overlays\n\nBlue: reference outline; orange: prediction outline; dashed purple circle: missed "
             "reference object; dotted yellow circle: false detection (areas in pixels). Panels by number:"]
    volumes = metrics["settings"]["slice_axis"] is not None
    for figure in overlays:
        if figure.path is None:
            continue
        rows = [[f"#{k}", p.case, str(p.slice) if volumes else "–", str(p.label), _fmt(p.dice),
                 "–" if p.area_px is None else str(p.area_px), figure.windows.get(p.case) or "masks only"]
                for k, p in enumerate(figure.panels, start=1)]
        parts.append(f"### {figure.title}\n\n![{figure.name}]({figure.name})\n\n"
                     + _table(["#", "case", "slice", "class", "Dice", "pixels", "image window"], rows))
    return "\n\n".join(parts)


def _worst_section(metrics: dict) -> str:
    objects = sorted(metrics["objects"], key=lambda o: (o["dice"], -o["area_px"]))[:WORST]
    object_rows = [[o["case"], str(o["slice"]), str(o["class"]), str(o["area_px"]), f"{o['ratio']:.4%}",
                    _fmt(o["dice"]), "yes" if o["detected"] else "no"] for o in objects]
    scored = [(s, label, e) for s in metrics["slices"] for label, e in s["per_class"].items() if e["dice"] is not None]
    slices = sorted(scored, key=lambda item: item[2]["dice"])[:WORST]
    slice_rows = [[s["case"], str(s["slice"]), label, _fmt(e["dice"]), str(e["fp"]), str(e["fn"])]
                  for s, label, e in slices]
    return ("## Worst cases\n\nObjects with the lowest Dice:\n\n"
            + _table(["case", "slice", "class", "pixels", "ratio", "Dice", "detected"], object_rows)
            + "\n\nSlices with the lowest Dice:\n\n"
            + _table(["case", "slice", "class", "Dice", "FP", "FN"], slice_rows))
