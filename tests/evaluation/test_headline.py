"""Reading the headline numbers out of a metrics.json laid out as docs/design/evaluation-protocol.md B11 says."""

from __future__ import annotations

import json
import math

import pytest

from svseg.errors import SvsegError
from svseg.evaluation.headline import metrics_markdown, read_metrics, summarise_metrics


def _metrics() -> dict:
    def stratum(n_objects, dice, f1, image_dice, n_slices):
        return ({"n_objects": n_objects, "dice": dice, "detection": {"overlap": {"f1": f1}, "iou50": {"f1": 0.0}}},
                {"n_slices": n_slices, "dice": image_dice})

    blocks = {"ultra_small": stratum(12, 0.5, 0.75, 0.4, 3), "small": stratum(15, 0.6, 0.8, math.nan, 4),
              "all": stratum(0, None, None, 0.7, 5)}
    return {"protocol": "svseg-eval-1",
            "object": {key: value[0] for key, value in blocks.items()},
            "image": {key: value[1] for key, value in blocks.items()}}


def test_summary_reads_object_detection_and_image_blocks() -> None:
    rows = {row.stratum: row for row in summarise_metrics(_metrics())}
    assert list(rows) == ["ultra_small", "small", "all"]
    assert rows["ultra_small"].object_dice == 0.5
    assert rows["ultra_small"].detection_f1 == 0.75  # the overlap rule, not iou50
    assert rows["ultra_small"].image_dice == 0.4 and rows["ultra_small"].n_slices == 3
    assert rows["small"].image_dice is None  # NaN is undefined, not a number
    assert rows["all"].object_dice is None and rows["all"].n_objects == 0


def test_markdown_prints_undefined_as_a_dash_not_zero() -> None:
    table = metrics_markdown(summarise_metrics(_metrics()))
    assert "| ultra-small (< 1 %) | 12 | 0.500 | 0.750 | 3 | 0.400 |" in table
    assert "| all | 0 | – | – | 5 | 0.700 |" in table


def test_read_metrics_names_the_file_on_error(tmp_path) -> None:
    with pytest.raises(SvsegError, match=r"metrics\.json"):
        read_metrics(tmp_path / "metrics.json")
    broken = tmp_path / "broken" / "metrics.json"
    broken.parent.mkdir()
    broken.write_text("{")
    with pytest.raises(SvsegError, match="broken"):
        read_metrics(broken)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_metrics()))
    assert read_metrics(good)["protocol"] == "svseg-eval-1"


def test_intervals_are_read_and_printed_beside_their_numbers() -> None:
    metrics = _metrics()
    metrics["uncertainty"] = {"strata": {"ultra_small": {
        "object_dice": {"estimate": 0.5, "low": 0.31, "high": 0.66},
        "detection_f1": {"estimate": 0.75, "low": None, "high": None},
        "image_dice": {"estimate": 0.4, "low": 0.2, "high": 0.55}}}}
    rows = {row.stratum: row for row in summarise_metrics(metrics)}
    assert rows["ultra_small"].object_dice_ci == (0.31, 0.66) and rows["ultra_small"].detection_f1_ci is None
    assert rows["small"].object_dice_ci is None
    table = metrics_markdown(list(rows.values()))
    assert "| ultra-small (< 1 %) | 12 | 0.500 [0.310, 0.660] | 0.750 | 3 | 0.400 [0.200, 0.550] |" in table
