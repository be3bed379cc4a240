"""The training-memory model: its calibration against the GPU anchor, and its shape."""

from __future__ import annotations

import pytest

from svseg.planning.memory import (
    ANCHOR_BATCH,
    ANCHOR_BYTES,
    ANCHOR_CHANNELS,
    ANCHOR_CLASSES,
    ANCHOR_PATCH,
    BYTES_PER_PARAMETER,
    CALIBRATION,
    TrainingMemoryModel,
    saved_bytes_per_image,
)


def test_calibration_reproduces_the_h100_anchor_with_the_current_svanet() -> None:
    parameters, saved = saved_bytes_per_image("svanet", {}, ANCHOR_PATCH, ANCHOR_CHANNELS, ANCHOR_CLASSES)
    fitted = (ANCHOR_BYTES - BYTES_PER_PARAMETER * parameters) / (ANCHOR_BATCH * saved)
    assert fitted == pytest.approx(CALIBRATION, rel=0.05)
    model = TrainingMemoryModel("svanet", {}, ANCHOR_CHANNELS, ANCHOR_CLASSES)
    assert model.estimate_gb(ANCHOR_PATCH, ANCHOR_BATCH) == pytest.approx(ANCHOR_BYTES / 1e9, rel=0.05)


def test_memory_grows_with_batch_and_patch() -> None:
    model = TrainingMemoryModel("svanet_tiny", {}, 1, 2)
    small, large = model.estimate_gb((64, 64), 2), model.estimate_gb((128, 128), 2)
    assert 0 < model.fixed_gb() < small < large
    per_image = model.per_image_gb((128, 128))
    assert model.estimate_gb((128, 128), 3) == pytest.approx(large + per_image)
    assert model.largest_batch((128, 128), model.fixed_gb() + 2.5 * per_image) == 2
    assert model.largest_batch((128, 128), model.fixed_gb() / 2) == 0
