"""svseg's prediction path against nnU-Net's own ``predict_from_files`` on the same model.

svseg reads inputs itself, batches tiles and predicts in chunks of slices; nnU-Net reads the
files with its own reader. Both must give the same masks for a PNG and a NIfTI dataset.

nnU-Net sums tile logits in float16, svseg in float32, so a pixel whose two best classes are
within float16 rounding of each other may flip; the random test networks produce such near-ties
now and then. Masks must therefore agree everywhere except where nnU-Net's own probabilities
say the two best classes are within 0.01 of each other.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from svseg.inference.api import predict
from svseg.inference.model_loading import load_model
from svseg.io import read_image

from .models import make_model_folder, noisy_volume, write_volume


def _nnunet_reference(folder: Path, source: Path, out_truncated: Path, use_mirroring: bool) -> None:
    """nnU-Net's own sequential file prediction (its readers, its export) with the same weights."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    model = load_model(folder, None)
    out_truncated.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=use_mirroring,
                                    perform_everything_on_device=False, device=torch.device("cpu"),
                                    allow_tqdm=False)
        predictor.manual_initialization(model.network, model.plans_manager, model.configuration_manager,
                                        model.parameters, model.dataset_json, model.trainer_name,
                                        model.mirroring_axes)
        predictor.predict_from_files_sequential([[str(source)]], [str(out_truncated)], save_probabilities=True,
                                                overwrite=True)


def _assert_same_masks(ours: np.ndarray, reference: np.ndarray, probabilities_file: Path) -> None:
    """Equal masks, except at near-ties of nnU-Net's probabilities (see the module docstring)."""
    probabilities = np.load(probabilities_file)["probabilities"].reshape((-1, *reference.shape))
    top_two = np.sort(probabilities, axis=0)[-2:]
    near_tie = (top_two[1] - top_two[0]) < 0.01
    differs = ours != reference
    assert not np.any(differs & ~near_tie), f"{int(np.sum(differs & ~near_tie))} pixels differ clearly"
    assert differs.mean() < 0.005


@pytest.mark.parametrize("tta", [False, True])
def test_png_matches_nnunet(planned: dict, tmp_path: Path, tta: bool) -> None:
    folder = make_model_folder(tmp_path / "results", planned["png"], seed=3)
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(5)
    image = (rng.random((61, 45)) * 120).astype(np.uint8)
    image[20:30, 10:22] += 120
    PILImage.fromarray(image).save(inputs / "scan.png")
    predict(inputs, tmp_path / "svseg", model_dir=folder, tta=tta, batch_size=3)
    _nnunet_reference(folder, inputs / "scan.png", tmp_path / "nnunet" / "scan", tta)
    ours = read_image(tmp_path / "svseg" / "scan.png").array
    reference = read_image(tmp_path / "nnunet" / "scan.png").array
    assert ours.shape == reference.shape == image.shape
    assert len(np.unique(reference)) > 1, "the random model should not predict one class everywhere"
    _assert_same_masks(ours, reference, tmp_path / "nnunet" / "scan.npz")


@pytest.mark.parametrize("tta", [False, True])
def test_nifti_matches_nnunet(planned: dict, tmp_path: Path, tta: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_model_folder(tmp_path / "results", planned["nifti"], seed=4)
    inputs = tmp_path / "in"
    inputs.mkdir()
    # in-plane spacing differs from the plan's 0.8 mm, so nnU-Net resamples in and out
    write_volume(inputs / "ct.nii.gz", noisy_volume(2, (9, 47, 33)), spacing=(0.65, 0.9, 2.5),
                 origin=(3.0, -7.0, 11.0), direction=(0, 1, 0, 1, 0, 0, 0, 0, -1))
    from svseg.inference import chunked

    monkeypatch.setattr(chunked, "auto_chunk_slices", lambda *args, **kwargs: 4)  # several chunks via the API
    predict([inputs / "ct.nii.gz"], tmp_path / "svseg", model_dir=folder, tta=tta, batch_size=5)
    _nnunet_reference(folder, inputs / "ct.nii.gz", tmp_path / "nnunet" / "ct", tta)
    ours = read_image(tmp_path / "svseg" / "ct.nii.gz")
    reference = read_image(tmp_path / "nnunet" / "ct.nii.gz")
    assert ours.geometry_matches(reference) == []
    assert len(np.unique(reference.array)) > 1
    _assert_same_masks(ours.array, reference.array, tmp_path / "nnunet" / "ct.npz")
