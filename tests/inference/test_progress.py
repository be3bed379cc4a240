"""The prediction bar's slice count: the predictor's reports add up to the slices, whatever the folds and batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from svseg.inference.chunked import predict_preprocessed
from svseg.inference.model_loading import load_model
from svseg.inference.predictor import make_predictor
from svseg.inference.progress import PredictionProgress

from .models import make_model_folder
from .test_predictor import _network_input


@pytest.mark.parametrize(("folds", "batch_size", "chunk"), [(("0",), 1, None), (("0", "1"), 3, 2)])
def test_reported_slices_add_up_to_the_volume(planned: dict, tmp_path: Path, folds: tuple[str, ...],
                                              batch_size: int, chunk: int | None) -> None:
    model = load_model(make_model_folder(tmp_path / "results", planned["nifti"], folds=folds, seed=2), None)
    predictor = make_predictor(model, torch.device("cpu"), True, batch_size=batch_size)
    network_input = _network_input(predictor)  # 3 slices of several tiles each
    reports: list[float] = []
    predictor.on_slices = reports.append
    predict_preprocessed(predictor, network_input, {"spacing": [3.0, 0.8, 0.8], **_properties(network_input)},
                         chunk_slices=chunk)
    assert len(reports) > 2 and sum(reports) == pytest.approx(network_input.shape[1])


def _properties(network_input: torch.Tensor) -> dict:
    shape = tuple(int(s) for s in network_input.shape[1:])
    return {"shape_before_cropping": shape, "bbox_used_for_cropping": [[0, s] for s in shape],
            "shape_after_cropping_and_before_resampling": shape}


def test_the_bars_count_cases_and_growing_slice_totals() -> None:
    with PredictionProgress(2) as bar:
        seen = []
        for case in bar.cases(["a", "b"]):
            bar.add_slices(4)
            bar.slices_predicted(2.5)
            bar.slices_predicted(1.5)
            seen.append(case)
        tasks = {task.description: task for task in bar._progress.tasks}
    assert seen == ["a", "b"]
    assert tasks["predicting cases"].completed == 2 and tasks["slices"].completed == pytest.approx(8.0)
    assert tasks["slices"].total == 8
