"""Every svseg evaluation figure reads at its size even after nnU-Net set its global seaborn style.

nnU-Net calls ``seaborn.set(font_scale=2.5)`` whenever it draws progress.png, so the figures
here are built after running that very code (:mod:`.figure_checks`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from svseg.evaluation.inputs import pair_cases
from svseg.evaluation.overlay_data import load_views
from svseg.evaluation.overlays import choose_figures, draw_figure
from svseg.evaluation.plots import dice_by_stratum, dice_vs_ratio

from .examples import box, evaluate_arrays, example_3, write_pngs
from .figure_checks import nnunet_global_style, text_problems


@pytest.fixture
def nnunet_style(tmp_path: Path) -> Iterator[None]:
    """nnU-Net's global seaborn style for the test, restored afterwards."""
    with nnunet_global_style(tmp_path):
        yield


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Two classes, a long case id, several strata."""
    ref, pred = example_3()
    two_ref, two_pred = ref.copy(), pred.copy()
    two_ref[box(80, 95, 5, 40)] = 2
    two_pred[box(82, 95, 5, 38)] = 2
    return {"ex3": (ref, pred), "patient_0042_series_7_t2w_axial_export_2023-11-05T10-42-17": (two_ref, two_pred)}


def _figures(tmp_path: Path) -> list[tuple[str, Figure]]:
    cases = _cases()
    metrics = evaluate_arrays(cases)
    gt = write_pngs(tmp_path / "gt", {name: ref for name, (ref, _) in cases.items()})
    pred = write_pngs(tmp_path / "pred", {name: pred for name, (_, pred) in cases.items()})
    pairs = {p.case: p for p in pair_cases(pred, gt)}
    built = [("dice_by_stratum", dice_by_stratum(metrics)), ("dice_vs_ratio", dice_vs_ratio(metrics))]
    for overlay in choose_figures(metrics):
        views = [load_views(pairs[p.case], None, None, {p.slice})[p.slice] for p in overlay.panels]
        built.append((overlay.name, draw_figure(overlay, views, {})))
    return built


def test_every_figure_fits_its_canvas_after_nnunets_style(tmp_path: Path, nnunet_style: None) -> None:
    figures = _figures(tmp_path)
    assert len(figures) >= 6
    for name, figure in figures:
        assert text_problems(figure) == [], name


def test_the_check_catches_figures_drawn_in_nnunets_style(tmp_path: Path, nnunet_style: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Without svseg's local style the same figures inherit font_scale 2.5: the check must see it.
    monkeypatch.setattr("svseg.utils.figures.figure_style", contextlib.nullcontext)
    problems = [problem for _, figure in _figures(tmp_path) for problem in text_problems(figure)]
    assert problems, "the check found nothing wrong in figures drawn at font_scale 2.5"
