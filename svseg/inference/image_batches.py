"""Several 2D images in one forward pass.

A 2D image that fits in one patch is a single sliding-window tile, so predicting a folder of
images one by one runs the network on batches of one and leaves a GPU mostly idle (nnU-Net
issue #2655: 250 ultrasound frames took 100 s on an A100). nnU-Net's 2D sliding window treats
every index of the slice axis as an independent image, so preprocessed images of the same shape
can be stacked along that axis, ``(c, 1, H, W)`` x n -> ``(c, n, H, W)``, and the batched tile loop
of :class:`~svseg.inference.predictor.SvsegPredictor` runs them together. The logits are split
again and each image is exported with its own properties (crop box, spacing), so the masks are
those of predicting each image alone.

Images are stacked only up to the predictor's batch size (one on the CPU, where batching does
not pay; see docs/benchmarks.md), and only while consecutive images share a shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from svseg.inference.chunked import CasePrediction, logits_to_labels


@dataclass
class _Pending:
    key: object
    network_input: torch.Tensor
    properties: dict


class ImageBatcher:
    """Collects preprocessed 2D images and predicts them `predictor.batch_size` at a time.

    `on_done(key, prediction)` is called for every image, in the order they were added, once
    its batch has been predicted; `key` is whatever the caller passed to :meth:`add`.
    """

    def __init__(self, predictor, with_probabilities: bool, on_done: Callable[[object, CasePrediction], None]):
        self.predictor = predictor
        self.with_probabilities = with_probabilities
        self.on_done = on_done
        self._pending: list[_Pending] = []

    def add(self, key: object, network_input: torch.Tensor, properties: dict) -> None:
        """Queue one preprocessed ``(c, 1, H, W)`` image; predicts the queue when it is full."""
        if network_input.shape[1] != 1:
            raise ValueError(f"ImageBatcher takes single-slice inputs, got shape {tuple(network_input.shape)}")
        if self._pending and self._pending[0].network_input.shape != network_input.shape:
            self.flush()
        self._pending.append(_Pending(key, network_input, properties))
        if len(self._pending) >= self.predictor.batch_size:
            self.flush()

    def flush(self) -> None:
        """Predict every queued image now (a no-op when none is queued)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        stacked = torch.cat([item.network_input for item in pending], dim=1)
        logits = self.predictor.predict_logits_from_preprocessed_data(stacked)
        for index, item in enumerate(pending):
            labels, probabilities = logits_to_labels(self.predictor, logits[:, index:index + 1], item.properties,
                                                     self.with_probabilities)
            self.on_done(item.key, CasePrediction(labels, probabilities, 1))
