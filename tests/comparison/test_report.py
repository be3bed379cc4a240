"""The side-by-side table: one column per architecture, cost rows, JSON mirrors markdown."""

from __future__ import annotations

import json
from pathlib import Path

from svseg.comparison.report import ArchitectureRow, comparison_markdown, write_comparison
from svseg.comparison.table import StratumSummary


def _row(arch: str, dice: float, seconds: float) -> ArchitectureRow:
    names = ("ultra_small", "small", "all")
    strata = tuple(StratumSummary(name, 10, dice, dice + 0.1, dice - 0.1, 4) for name in names)
    return ArchitectureRow(arch=arch, parameters=1_234_567, macs=2_500_000_000, patch_size=(128, 128),
                           train_seconds=61.4, epochs=3, iters_per_epoch=20, predict_seconds=seconds,
                           num_slices=8, strata=strata, model_dir=Path("m"), metrics_path=Path("m.json"))


def test_markdown_has_one_column_per_architecture_and_cost_rows() -> None:
    table = comparison_markdown([_row("svanet_tiny", 0.5, 2.0), _row("unet", 0.4, 4.0)],
                                {"dataset": "Demo", "fold": 0, "num_cases": 2, "cases": "test", "device": "cpu"})
    assert "| | `svanet_tiny` | `unet` |" in table
    assert "| object Dice, ultra-small (< 1 %) (n=10 objects) | 0.500 | 0.400 |" in table
    assert "| parameters | 1,234,567 | 1,234,567 |" in table
    assert "| MACs per patch | 2.50 G @ 128x128 | 2.50 G @ 128x128 |" in table
    assert "| inference, slices/s | 4.00 | 2.00 |" in table  # 8 slices in 2 s and in 4 s
    assert "| training wall time | 61 s (3 x 20 it) |" in table


def test_json_holds_the_same_numbers(tmp_path) -> None:
    rows = [_row("svanet_tiny", 0.5, 2.0), _row("unet", 0.4, 0.0)]
    markdown, data = write_comparison(tmp_path, rows, {"dataset": "Demo", "fold": 0})
    assert markdown.read_text(encoding="utf-8").startswith("Dataset `Demo`, fold 0")
    saved = json.loads(data.read_text(encoding="utf-8"))
    assert [entry["arch"] for entry in saved["architectures"]] == ["svanet_tiny", "unet"]
    assert saved["architectures"][0]["metrics"]["small"]["object_dice"] == 0.5
    assert saved["architectures"][0]["slices_per_second"] == 4.0
    assert saved["architectures"][1]["slices_per_second"] is None
