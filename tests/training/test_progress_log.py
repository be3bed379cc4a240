"""The per-epoch line: fixed order, readable numbers, ETA from the logged epoch times."""

from __future__ import annotations

import math

from svseg.training.progress_log import estimate_eta, format_epoch_line, format_eta


def test_epoch_line_has_fixed_order() -> None:
    line = format_epoch_line(2, 100, 0.51234, -0.25, [0.81234, math.nan], 12.34, 3725)
    assert line == ("epoch 3/100 | train loss 0.5123 | val loss -0.2500 | pseudo-Dice [0.8123, nan] | 12.3 s | "
                    "ETA 1:02:05")
    fields = ["epoch", "train loss", "val loss", "pseudo-Dice", " s |", "ETA"]
    positions = [line.index(field) for field in fields]
    assert positions == sorted(positions)


def test_eta_is_mean_epoch_time_times_epochs_left() -> None:
    assert estimate_eta([10.0, 20.0], 4) == 60.0
    assert estimate_eta([], 4) == 0.0 and estimate_eta([5.0], 0) == 0.0
    assert format_eta(90061) == "1 day, 1:01:01"
