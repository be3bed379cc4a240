"""The PNG charts are written atomically and are real images, with or without objects."""

from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage

from svseg.evaluation.plots import write_plots

from .examples import blank, evaluate_arrays, example_3


def test_plots_are_valid_pngs(tmp_path: Path) -> None:
    paths = write_plots(evaluate_arrays({"ex3": example_3()}), tmp_path / "out")
    assert [p.name for p in paths] == ["dice_by_stratum.png", "dice_vs_area_ratio.png"]
    for path in paths:
        with PILImage.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 500
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)  # no temp files


def test_charts_are_drawn_without_any_object(tmp_path: Path) -> None:
    paths = write_plots(evaluate_arrays({"e": (blank(), blank())}), tmp_path)
    assert all(path.is_file() for path in paths)
