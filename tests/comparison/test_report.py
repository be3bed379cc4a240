"""The side-by-side table: one column per architecture, cost rows, intervals, paired differences, JSON and HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from svseg.comparison.report import ArchitectureRow, comparison_markdown, paired_differences, write_comparison
from svseg.evaluation.headline import StratumSummary, summarise_metrics
from svseg.utils.fs import atomic_write_json

from ..evaluation.chromium import (
    MISSING,
    Chromium,
    chromium_binary,
    click_header,
    column_values,
    open_page,
    page_problems,
)
from ..evaluation.examples import blank, box, evaluate_arrays

CONTEXT = {"dataset": "Demo", "fold": 0, "num_cases": 8, "cases": "test", "device": "cpu"}


def _row(arch: str, dice: float, seconds: float, metrics_path: Path = Path("m.json"),
         strata: tuple[StratumSummary, ...] | None = None) -> ArchitectureRow:
    names = ("ultra_small", "small", "all")
    strata = strata or tuple(StratumSummary(name, 10, dice, dice + 0.1, dice - 0.1, 4) for name in names)
    return ArchitectureRow(arch=arch, parameters=1_234_567, macs=2_500_000_000, patch_size=(128, 128),
                           train_seconds=61.4, epochs=3, iters_per_epoch=20, predict_seconds=seconds,
                           num_slices=8, strata=strata, model_dir=Path("m"), metrics_path=metrics_path)


def _cases(shift: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Eight cases with two objects each; the prediction is shifted by `shift` rows (0: perfect)."""
    cases = {}
    for k in range(8):
        ref = blank()
        ref[box(10 + 5 * k, 14 + 5 * k, 10, 14 + k)] = 1
        ref[box(60, 75, 20 + 5 * k, 40 + 5 * k)] = 1
        cases[f"case_{k}"] = (ref, np.roll(ref, shift + k % 2 * (shift > 0), axis=0))
    return cases


def _evaluated_rows(tmp_path: Path, shifts: dict[str, int]) -> list[ArchitectureRow]:
    rows = []
    for arch, shift in shifts.items():
        metrics = evaluate_arrays(_cases(shift))
        path = tmp_path / "evaluation" / arch / "metrics.json"
        atomic_write_json(path, metrics)
        rows.append(_row(arch, 0.0, 2.0, path, tuple(summarise_metrics(metrics))))
    return rows


def test_markdown_has_one_column_per_architecture_and_cost_rows() -> None:
    table = comparison_markdown([_row("svanet_tiny", 0.5, 2.0), _row("unet", 0.4, 4.0)], CONTEXT, differences=[])
    assert "| | `svanet_tiny` | `unet` |" in table
    assert "| object Dice, ultra-small (< 1 %) (n=10 objects) | 0.500 | 0.400 |" in table
    assert "| parameters | 1,234,567 | 1,234,567 |" in table
    assert "| MACs per patch | 2.50 G @ 128x128 | 2.50 G @ 128x128 |" in table
    assert "| inference, slices/s | 4.00 | 2.00 |" in table  # 8 slices in 2 s and in 4 s
    assert "| training wall time | 61 s (3 x 20 it) |" in table


def test_intervals_and_a_real_difference_are_marked(tmp_path: Path) -> None:
    rows = _evaluated_rows(tmp_path, {"perfect": 0, "shifted": 2})
    table = comparison_markdown(rows, CONTEXT)
    dice_row = next(line for line in table.splitlines() if line.startswith("| object Dice, all"))
    assert re.search(r"\| 1\.000 \[1\.000, 1\.000\] \| 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\] \|$", dice_row)
    difference = next(line for line in table.splitlines() if line.startswith("| `perfect` - `shifted` | all |"))
    assert difference.count(" *") >= 2  # object and image Dice differ beyond the noise
    differences = {(d.stratum, d.figure): d for d in paired_differences(rows)}
    expected = 1.0 - rows[1].stratum("all").object_dice
    assert differences["all", "object_dice"].interval.estimate == pytest.approx(expected)


def test_identical_networks_differ_by_exactly_zero(tmp_path: Path) -> None:
    rows = _evaluated_rows(tmp_path, {"a": 2, "b": 2})
    table = comparison_markdown(rows, CONTEXT)
    difference = next(line for line in table.splitlines() if line.startswith("| `a` - `b` | all |"))
    assert difference.count("+0.000 [+0.000, +0.000]") == 3 and " *" not in difference


def test_json_and_html_hold_the_same_numbers(tmp_path: Path) -> None:
    rows = _evaluated_rows(tmp_path, {"svanet_tiny": 0, "unet": 2})
    markdown, data = write_comparison(tmp_path, rows, {"dataset": "Demo", "fold": 0})
    assert markdown.read_text(encoding="utf-8").startswith("Dataset `Demo`, fold 0")
    saved = json.loads(data.read_text(encoding="utf-8"))
    assert [entry["arch"] for entry in saved["architectures"]] == ["svanet_tiny", "unet"]
    assert saved["architectures"][0]["metrics"]["small"]["object_dice"] == 1.0
    assert saved["architectures"][1]["metrics"]["all"]["object_dice_ci"][0] < 1.0
    assert saved["architectures"][0]["slices_per_second"] == 4.0
    first = saved["paired_differences"][0]
    assert (first["first"], first["second"], first["stratum"], first["figure"]) == ("svanet_tiny", "unet",
                                                                                     "ultra_small", "object_dice")
    page = (tmp_path / "comparison.html").read_text(encoding="utf-8")
    assert 'class="significant"' in page and "<script src" not in page and "http" not in page


@pytest.mark.skipif(chromium_binary() is None, reason=MISSING)
def test_comparison_page_in_chromium(tmp_path: Path) -> None:
    rows = _evaluated_rows(tmp_path, {"perfect": 0, "shifted": 2, "shifted_more": 3})
    write_comparison(tmp_path, rows, CONTEXT)
    browser = Chromium(tmp_path / "profile")
    try:
        open_page(browser, tmp_path / "comparison.html")
        assert browser.evaluate("document.querySelectorAll('#differences td.significant').length") > 0
        click_header(browser, "differences", 2)  # object Dice difference "+0.123 [...]", sorted by its number
        values = [float(v.split()[0]) for v in column_values(browser, "differences", 2)]
        assert values == sorted(values)
        browser.screenshot(tmp_path / "comparison.png")
        assert page_problems(browser) == []
    finally:
        browser.close()
