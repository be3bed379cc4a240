"""The final validation's bar: tile counts match nnU-Net's predictor, messages drive cases and slices."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

from svseg.training.validation_progress import ValidationProgress, forward_passes


@pytest.mark.parametrize(("shape", "patch", "axes"), [
    ((182, 300, 260), (256, 256), (0, 1)),  # a 2D configuration on an MRI volume, mirrored in-plane
    ((1, 100, 90), (128, 128), None),  # one image smaller than the patch (padded), no mirroring
    ((40, 200, 200), (32, 96, 96), (0, 1, 2)),  # a 3D configuration
])
def test_forward_passes_equal_nnunets_tiles_times_mirrors(shape: tuple[int, ...], patch: tuple[int, ...],
                                                          axes: tuple[int, ...] | None) -> None:
    predictor = nnUNetPredictor(tile_step_size=0.5, device=torch.device("cpu"), allow_tqdm=False)
    predictor.configuration_manager = SimpleNamespace(patch_size=list(patch))
    padded = (shape[0], *(max(s, p) for s, p in zip(shape[1:], patch[-2:], strict=True))) if len(patch) == 2 \
        else tuple(max(s, p) for s, p in zip(shape, patch, strict=True))
    tiles = len(predictor._internal_get_sliding_window_slicers(padded))
    assert forward_passes(shape, patch, axes) == tiles * 2 ** len(axes or ())


def _trainer() -> SimpleNamespace:
    network = torch.nn.Identity()
    return SimpleNamespace(network=network, configuration_manager=SimpleNamespace(patch_size=[64, 64]),
                           inference_allowed_mirroring_axes=(0, 1))


def test_messages_and_tiles_drive_the_count_and_the_summary(caplog: pytest.LogCaptureFixture) -> None:
    trainer, progress = _trainer(), ValidationProgress()
    progress.observe("This split has 8 training and 2 validation cases.", trainer)
    assert progress.total_cases == 2
    x = torch.zeros(1)
    with caplog.at_level(logging.INFO, logger="svseg.training.validation_progress"):
        progress.observe("predicting vol_a", trainer)
        progress.observe("vol_a, shape torch.Size([1, 10, 64, 64]), rank 0", trainer)
        for _ in range(20):  # half of 10 slices x 1 tile x 4 mirror passes
            trainer.network(x)
        assert progress.slices_done == pytest.approx(5.0)
        for _ in range(20):
            trainer.network(x)
        progress.observe("predicting vol_b", trainer)
        assert progress.cases == 1 and progress.slices_done == pytest.approx(10.0)
        progress.observe("vol_b, shape torch.Size([1, 6, 64, 64]), rank 0", trainer)
        progress.observe("Validation complete", trainer)  # counted whole even though no tile was seen
    assert progress.cases == 2 and progress.slices_done == pytest.approx(16.0)
    assert "final validation: 2 case(s), 16 slices predicted and exported in" in caplog.text
    trainer.network(x)
    assert progress.slices_done == pytest.approx(16.0)  # the hook is gone after the validation


def test_messages_before_the_validation_leave_no_bar() -> None:
    trainer, progress = _trainer(), ValidationProgress()
    progress.observe("epoch 3, shape torch.Size([1, 2, 3, 4])", trainer)
    progress.observe("Validation complete", trainer)
    assert progress.cases == 0
