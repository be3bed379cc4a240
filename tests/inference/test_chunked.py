"""Predicting a volume in chunks of slices gives what predicting it whole gives.

"Whole" is nnU-Net's own export (``convert_predicted_logits_to_segmentation_with_correct_shape``
on the full logits); the chunked path hands it one chunk at a time. The test volume has an
empty border (so nnU-Net crops it) and an in-plane spacing unlike the plan's (so logits are
resampled back), and one model transposes the volume so that chunks run along y.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from svseg.inference import chunked
from svseg.inference.inputs import VOLUME, to_nnunet_array
from svseg.inference.model_loading import load_model
from svseg.inference.predictor import make_predictor
from svseg.io import Image

from .models import make_model_folder, noisy_volume


def _case(shape=(9, 47, 33)) -> tuple[np.ndarray, dict]:
    volume = noisy_volume(3, shape)
    volume[:2] = 0  # empty slices and border: nnU-Net crops to the non-zero box
    volume[:, :, -4:] = 0
    image = Image(volume, spacing=(0.65, 0.9, 2.5), origin=(0, 0, 0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
                  is_volume=True)
    return to_nnunet_array(image, VOLUME)


def _transposed_model_folder(results: Path, planned_entry: tuple[dict, dict]) -> Path:
    """A model whose plans put the y axis first, so its 2D slices are x-z planes."""
    folder = make_model_folder(results, planned_entry, seed=6)
    plans = json.loads((folder / "plans.json").read_text(encoding="utf-8"))
    plans["transpose_forward"] = plans["transpose_backward"] = [1, 0, 2]
    plans["configurations"]["2d"]["spacing"] = [3.0, 0.8]
    plans["configurations"]["2d"]["patch_size"] = [8, 40]
    (folder / "plans.json").write_text(json.dumps(plans))
    return folder


@pytest.mark.parametrize("transposed", [False, True])
def test_chunks_equal_the_whole_volume(planned: dict, tmp_path: Path, transposed: bool,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results"
    folder = (_transposed_model_folder(results, planned["nifti"]) if transposed
              else make_model_folder(results, planned["nifti"], seed=5))
    predictor = make_predictor(load_model(folder, None), torch.device("cpu"), use_mirroring=False, batch_size=1)
    data, properties = _case()
    whole = chunked.predict_case(predictor, data, dict(properties), chunk_slices=10**6, with_probabilities=True)
    assert whole.labels.shape == data.shape[1:] and whole.labels.dtype == np.uint8
    assert len(np.unique(whole.labels)) > 1
    seen = []
    original = predictor.predict_logits_from_preprocessed_data
    monkeypatch.setattr(predictor, "predict_logits_from_preprocessed_data",
                        lambda x: seen.append(int(x.shape[1])) or original(x))
    for chunk in ((5, 16) if transposed else (1, 3)):
        seen.clear()
        part = chunked.predict_case(predictor, data, dict(properties), chunk_slices=chunk, with_probabilities=True)
        assert max(seen) <= chunk and sum(seen) == (47 if transposed else 7)  # the non-empty slices only
        np.testing.assert_array_equal(part.labels, whole.labels)
        np.testing.assert_allclose(part.probabilities.astype(np.float32), whole.probabilities.astype(np.float32),
                                   atol=1e-3)
    assert whole.probabilities.shape == (3, *data.shape[1:])
    if not transposed:  # outside the non-zero box: certain background, as nnU-Net reports it
        assert np.all(whole.probabilities[0, :2] == 1) and np.all(whole.labels[:2] == 0)


def test_chunk_size_follows_the_memory_budget(planned: dict, tmp_path: Path) -> None:
    predictor = make_predictor(load_model(make_model_folder(tmp_path / "r", planned["nifti"]), None),
                               torch.device("cpu"), False, 1)
    properties = {"shape_before_cropping": (400, 512, 512)}
    # 3 classes x 512 x 512 pixels x 16 bytes per class and pixel = 12 MiB per slice
    assert chunked.auto_chunk_slices(predictor, properties) == 42
    assert chunked.auto_chunk_slices(predictor, properties, max_bytes=1) == 1


def test_predict_case_uses_the_budget_when_no_chunk_size_is_given(planned: dict, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = make_predictor(load_model(make_model_folder(tmp_path / "r", planned["nifti"]), None),
                               torch.device("cpu"), False, 2)
    monkeypatch.setattr(chunked, "DEFAULT_CHUNK_BYTES", 3 * 47 * 33 * 16 * 3)  # three slices' worth
    seen = []
    original = predictor.predict_logits_from_preprocessed_data
    monkeypatch.setattr(predictor, "predict_logits_from_preprocessed_data",
                        lambda x: seen.append(int(x.shape[1])) or original(x))
    data, properties = _case()
    chunked.predict_case(predictor, data, properties)
    assert seen == [3, 3, 1]
