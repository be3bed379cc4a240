"""The batched sliding window equals nnU-Net's tile-by-tile loop, and folds are averaged."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch

from svseg.inference.chunked import preprocess
from svseg.inference.inputs import VOLUME, to_nnunet_array
from svseg.inference.model_loading import load_model
from svseg.inference.predictor import default_batch_size, make_predictor
from svseg.io import Image

from .models import make_model_folder, noisy_volume


def _network_input(predictor, shape=(3, 70, 55)) -> torch.Tensor:
    """A preprocessed volume larger than the 40x40 patch, so each slice needs several tiles."""
    image = Image(noisy_volume(7, shape), spacing=(0.8, 0.8, 3.0), origin=(0, 0, 0),
                  direction=(1, 0, 0, 0, 1, 0, 0, 0, 1), is_volume=True)
    data, properties = to_nnunet_array(image, VOLUME)
    return preprocess(predictor, data, properties)[0]


def _nnunet_logits(model, network_input: torch.Tensor, use_mirroring: bool) -> torch.Tensor:
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    with contextlib.redirect_stdout(io.StringIO()):
        reference = nnUNetPredictor(use_mirroring=use_mirroring, perform_everything_on_device=False,
                                    device=torch.device("cpu"), allow_tqdm=False)
        reference.manual_initialization(model.network, model.plans_manager, model.configuration_manager,
                                        model.parameters, model.dataset_json, model.trainer_name, model.mirroring_axes)
    return reference.predict_logits_from_preprocessed_data(network_input).float()


@pytest.mark.parametrize("use_mirroring", [False, True])
def test_batched_tiles_equal_nnunets_loop(planned: dict, tmp_path: Path, use_mirroring: bool) -> None:
    model = load_model(make_model_folder(tmp_path / "results", planned["nifti"], seed=1), None)
    one_at_a_time = make_predictor(model, torch.device("cpu"), use_mirroring, batch_size=1)
    network_input = _network_input(one_at_a_time)
    calls = []
    hook = model.network.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    single = one_at_a_time.predict_logits_from_preprocessed_data(network_input)
    batched = make_predictor(model, torch.device("cpu"), use_mirroring, batch_size=4)
    calls_single, calls[:] = list(calls), []
    several = batched.predict_logits_from_preprocessed_data(network_input)
    hook.remove()
    passes = 4 if use_mirroring else 1
    tiles = len(calls_single) // passes
    assert tiles == 3 * 3 * 2  # 3 slices x (3 x 2) tiles of 40x40 over 70x55 at step 0.5
    assert calls == [size for size in (4, 4, 4, 4, 2) for _ in range(passes)]
    torch.testing.assert_close(several, single, atol=1e-4, rtol=1e-4)
    # nnU-Net accumulates in float16 with float16 Gaussian weights (coarsest at the tile corners,
    # where the weights are tiny), hence the looser tolerance against its own loop
    reference = _nnunet_logits(model, network_input, use_mirroring)
    torch.testing.assert_close(single, reference, atol=0.1, rtol=0.05)
    assert float((single - reference).abs().mean()) < 2e-3


def test_folds_are_ensembled_by_averaging_logits(planned: dict, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "results", planned["nifti"], folds=("0", "1"), seed=2)
    both = load_model(folder, None)
    predictor = make_predictor(both, torch.device("cpu"), False, batch_size=3)
    network_input = _network_input(predictor, shape=(2, 40, 36))
    ensemble = predictor.predict_logits_from_preprocessed_data(network_input)
    per_fold = [make_predictor(load_model(folder, [fold]), torch.device("cpu"), False, 3)
                .predict_logits_from_preprocessed_data(network_input) for fold in ("0", "1")]
    assert not torch.allclose(per_fold[0], per_fold[1])
    torch.testing.assert_close(ensemble, (per_fold[0] + per_fold[1]) / 2, atol=1e-5, rtol=1e-5)


def test_default_batch_sizes() -> None:
    assert default_batch_size(torch.device("cpu"), (512, 512)) == 1
    assert default_batch_size(torch.device("cuda"), (512, 512)) == 16
    assert default_batch_size(torch.device("cuda"), (256, 256)) == 64
    assert default_batch_size(torch.device("cuda"), (2048, 2048)) == 1
    assert default_batch_size(torch.device("mps"), (64, 64)) == 64


def test_2d_images_of_one_shape_share_forward_passes(planned: dict, tmp_path: Path) -> None:
    from svseg.inference.chunked import predict_preprocessed, preprocess
    from svseg.inference.image_batches import ImageBatcher
    from svseg.inference.inputs import NATURAL_2D

    model = load_model(make_model_folder(tmp_path / "results", planned["png"], seed=8), None)
    predictor = make_predictor(model, torch.device("cpu"), False, batch_size=3)
    shapes = [(50, 37)] * 4 + [(30, 44)] * 2
    images = [Image(noisy_volume(i, (1, *shape))[0].astype("uint8"), spacing=(1, 1), origin=(0, 0),
                    direction=(1, 0, 0, 1)) for i, shape in enumerate(shapes)]
    inputs = [preprocess(predictor, *to_nnunet_array(image, NATURAL_2D)) for image in images]
    stacked_sizes, done = [], []
    original = predictor.predict_logits_from_preprocessed_data
    predictor.predict_logits_from_preprocessed_data = lambda x: stacked_sizes.append(int(x.shape[1])) or original(x)
    batcher = ImageBatcher(predictor, True, lambda key, prediction: done.append((key, prediction)))
    for index, (network_input, properties) in enumerate(inputs):
        batcher.add(index, network_input, properties)
    batcher.flush()
    assert stacked_sizes == [3, 1, 2]  # full batch, shape change, end
    assert [key for key, _ in done] == list(range(6))
    for (index, prediction), (network_input, properties) in zip(done, inputs, strict=True):
        alone = predict_preprocessed(predictor, network_input, dict(properties), with_probabilities=True)
        assert prediction.labels.shape == (1, *shapes[index])
        torch.testing.assert_close(torch.from_numpy(prediction.probabilities.astype("float32")),
                                   torch.from_numpy(alone.probabilities.astype("float32")), atol=2e-3, rtol=0)
        margin = np.diff(np.sort(alone.probabilities.astype("float32"), axis=0)[-2:], axis=0)[0]
        np.testing.assert_array_equal(prediction.labels[margin > 0.01], alone.labels[margin > 0.01])
