"""The PNG plots are written atomically and are real images; no objects means no montage."""

from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage

from svseg.evaluation.inputs import pair_cases
from svseg.evaluation.plots import write_plots

from .examples import blank, evaluate_arrays, example_3, write_pngs


def test_plots_are_valid_pngs(tmp_path: Path) -> None:
    ref, pred = example_3()
    gt, prd = write_pngs(tmp_path / "gt", {"ex3": ref}), write_pngs(tmp_path / "pred", {"ex3": pred})
    pairs = {p.case: p for p in pair_cases(prd, gt)}
    paths = write_plots(evaluate_arrays({"ex3": (ref, pred)}), tmp_path / "out", pairs, {"ex3": None})
    assert [p.name for p in paths] == ["dice_by_stratum.png", "dice_vs_area_ratio.png", "worst_cases.png"]
    for path in paths:
        with PILImage.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 100
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)  # no temp files


def test_no_reference_objects_means_no_montage(tmp_path: Path) -> None:
    paths = write_plots(evaluate_arrays({"e": (blank(), blank())}), tmp_path, {}, {})
    assert [p.name for p in paths] == ["dice_by_stratum.png", "dice_vs_area_ratio.png"]
