"""``report.html``: one self-contained page a person opens from a shared drive or an email.

Everything is inside the one file: images as base64 ``data:`` URIs, the style sheet inline and
a few lines of inline JavaScript that sort a table by the column whose header is clicked.
Nothing is fetched, so the page reads the same offline, behind a proxy or in a mail client's
sandbox. Numbers come from the metrics dict only (like report.md), each headline figure with its
95 % interval; overlays show the worst cases on their images with full case ids beside them.
The page helpers (:func:`page`, :func:`table`, :func:`image`) serve ``svseg compare`` too.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

from svseg.evaluation.bootstrap import class_mean
from svseg.evaluation.report import images_note, interval_note, with_interval
from svseg.objects import STRATA
from svseg.utils.fs import atomic_write_text

if TYPE_CHECKING:
    from svseg.evaluation.overlays import OverlayFigure

Cell = str | tuple[str, float | None]
"""A table cell: text, or (text shown, number it sorts by; None sorts last)."""

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1180px;
padding:0 1em;color:#1b1b1b}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d0d0;padding:3px 8px;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:after{content:" \\2195";color:#888}
table.sortable th[aria-sort=ascending]:after{content:" \\2191"}
table.sortable th[aria-sort=descending]:after{content:" \\2193"}
.significant{font-weight:bold;background:#fff3d6}.note{color:#555;max-width:60em}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{color:#555;font-size:.9em}
"""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[column], value = cell.getAttribute("data-value");
        if (value === null) { return cell.textContent.trim().toLowerCase(); }
        return value === "" ? null : parseFloat(value);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return (x === null) - (y === null); }
        var order = x < y ? -1 : (x > y ? 1 : 0);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def page(title: str, sections: list[str]) -> str:
    """A complete HTML document: inline style, the sections, the sorting script."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{STYLE}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n" + "\n".join(sections)
            + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n")


def table(header: list[str], rows: list[list[Cell]], *, sortable: bool = False, table_id: str | None = None,
          cell_classes: list[list[str]] | None = None) -> str:
    """An HTML table; cells given as (text, number) sort by the number in a sortable table.

    `cell_classes` gives each body cell a CSS class ("" for none), row by row.
    """
    attributes = (f' id="{html.escape(table_id)}"' if table_id else "") + (' class="sortable"' if sortable else "")
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = []
    for index, row in enumerate(rows):
        classes = cell_classes[index] if cell_classes else [""] * len(row)
        body.append("<tr>" + "".join(_cell(cell, css) for cell, css in zip(row, classes, strict=True)) + "</tr>")
    return f"<table{attributes}><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"


def _cell(cell: Cell, css: str = "") -> str:
    attributes = f' class="{html.escape(css)}"' if css else ""
    if isinstance(cell, tuple):
        text, number = cell
        value = "" if number is None else repr(float(number))
        return f'<td data-value="{value}"{attributes}>{html.escape(text)}</td>'
    return f"<td{attributes}>{html.escape(cell)}</td>"


def image(path: Path, caption: str) -> str:
    """A PNG embedded as a data URI inside a captioned figure."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def paragraph(text: str, css: str = "note") -> str:
    """An escaped paragraph."""
    return f'<p class="{css}">{html.escape(text)}</p>'


def write_html_report(metrics: dict, target: Path, charts: list[Path], overlays: list[OverlayFigure]) -> Path:
    """Write the evaluation's report.html (atomically); returns its path."""
    settings = metrics["settings"]
    labels = ", ".join(f"{value} = {name}" for value, name in settings["labels"].items()) or "none found"
    t = settings["thresholds"]
    sections = [paragraph(f"{settings['n_cases']} cases; classes: {labels}; strata: ultra-small < "
                          f"{t['ultra_small'] * 100:g} % of the slice, small < {t['small'] * 100:g} %, all. "
                          f"Protocol {metrics['protocol']}; fractions in [0, 1]; – = undefined."),
                paragraph(images_note(settings).replace("`", "")),
                "<h2>Headline per stratum</h2>", _headline(metrics), paragraph(interval_note(metrics)),
                "<h2>Lesion-wise detection</h2>", _detection(metrics),
                paragraph("overlap: any shared pixel; iou50: IoU > 0.5. A false detection counts in the stratum "
                          "of its own area ratio.")]
    if overlays:
        sections += ["<h2>Worst cases on their images</h2>", _overlays(overlays, settings)]
    if charts:
        sections += ["<h2>Charts</h2>", *(image(path, path.stem.replace("_", " ")) for path in charts)]
    sections += ["<h2>Per case</h2>", paragraph("Click a column header to sort by it (again to reverse)."),
                 _per_case(metrics)]
    atomic_write_text(target, page("svseg evaluation", sections))
    return target


def _headline(metrics: dict) -> str:
    strata = (metrics.get("uncertainty") or {}).get("strata", {})
    rows = [[stratum.replace("_", "-"), str(metrics["object"][stratum]["n_objects"]),
             with_interval(strata.get(stratum, {}).get("object_dice")),
             with_interval(strata.get(stratum, {}).get("detection_f1")), str(metrics["image"][stratum]["n_slices"]),
             with_interval(strata.get(stratum, {}).get("image_dice"))] for stratum in STRATA]
    return table(["stratum", "objects", "object Dice [95 % CI]", "detection F1 [95 % CI]", "slices",
                  "image Dice [95 % CI]"], rows, table_id="headline")


def _detection(metrics: dict) -> str:
    rows = []
    for stratum in STRATA:
        for rule, e in metrics["object"][stratum]["detection"].items():
            rows.append([stratum.replace("_", "-"), rule, str(e["n_ref"]), str(e["n_ref_detected"]), str(e["n_pred"]),
                         str(e["n_pred_true"]), _number(e["recall"]), _number(e["precision"]), _number(e["f1"])])
    return table(["stratum", "rule", "reference", "detected", "predicted", "true", "recall", "precision", "F1"],
                 rows, table_id="detection")


def _overlays(overlays: list[OverlayFigure], settings: dict) -> str:
    parts = [paragraph("Blue: reference outline; orange: prediction outline; dashed purple circle: missed reference "
                       "object; dotted yellow circle: false detection, each with its area in pixels.")]
    volumes = settings["slice_axis"] is not None
    for figure in overlays:
        if figure.path is None:
            continue
        rows = [[f"#{k}", p.case, str(p.slice) if volumes else "–", str(p.label), _number(p.dice),
                 "–" if p.area_px is None else str(p.area_px), figure.windows.get(p.case) or "masks only"]
                for k, p in enumerate(figure.panels, start=1)]
        parts += [f"<h3>{html.escape(figure.title)}</h3>", image(figure.path, figure.title),
                  table(["panel", "case", "slice", "class", "Dice", "pixels", "image window"], rows)]
    return "\n".join(parts)


def _per_case(metrics: dict) -> str:
    """One sortable row per case: counts and headline figures of the ``all`` and ``ultra_small`` strata."""
    classes = list(metrics["settings"]["labels"])
    slices: dict[str, int] = {}
    for record in metrics["slices"]:
        slices[record["case"]] = slices.get(record["case"], 0) + 1
    rows = []
    for record in metrics.get("per_case", []):
        every, ultra = record["all"], record["ultra_small"]
        n_ref, detected, n_pred, true = every["detection"]
        counts = [slices.get(record["case"], 0), n_ref, n_ref - detected, n_pred - true]
        n_ultra = ultra["detection"][0]
        rows.append([record["case"], *((str(n), n) for n in counts), _sortable(_mean(every["object_dice"], classes)),
                     (str(n_ultra), n_ultra), _sortable(_mean(ultra["object_dice"], classes)),
                     _sortable(_mean(every["image_dice"], classes))])
    header = ["case", "slices", "objects", "missed", "false detections", "object Dice", "ultra-small objects",
              "ultra-small object Dice", "image Dice"]
    return table(header, rows, sortable=True, table_id="cases")


def _mean(components: dict[str, list[float]], classes: list[str]) -> float | None:
    sums = [value for c in classes for value in components.get(c, [0.0, 0])]
    value = float(class_mean([sums])[0]) if classes else float("nan")
    return None if value != value else value


def _sortable(value: float | None) -> tuple[str, float | None]:
    return ("–" if value is None else f"{value:.3f}"), value


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
