"""nnU-Net's predictor with batched sliding windows.

``nnUNetPredictor`` runs the network on one tile at a time. For the 2D configuration a volume is
cut into one (or a few) tiles per slice, so a 400-slice CT costs 400 separate forward passes that
leave a GPU mostly idle and, on a CPU, pay the per-call overhead of every layer 400 times. The
subclass below overrides the one hook that loops over tiles and feeds ``batch_size`` tiles (from
one or several slices) per forward pass; everything else (padding, tile positions, Gaussian
weighting, mirroring TTA, fold ensembling, export) stays nnU-Net's.

Accumulators are float32 instead of nnU-Net's float16: the caller predicts volumes in chunks of
slices (:mod:`svseg.inference.chunked`), so the extra memory is bounded by the chunk, and float32
avoids fp16 rounding and overflow in the summed logits.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from collections.abc import Callable, Iterator
from queue import Queue
from threading import Thread
from typing import TYPE_CHECKING

import torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
from nnunetv2.inference.sliding_window_prediction import compute_gaussian

from svseg.nnunet_touchpoints import check_overrides

if TYPE_CHECKING:
    from svseg.inference.model_loading import LoadedModel

log = logging.getLogger(__name__)

# Tiles per forward pass when the caller does not choose. On the CPU one 256x256 tile already
# gives the convolutions large matrices, and larger batches measured no faster (the activations
# fall out of cache; docs/benchmarks.md), so the CPU keeps nnU-Net's one tile. On a GPU a batch
# holds about 4 M input pixels (16 tiles of 512x512, 64 of 256x256), capped to keep memory modest.
CPU_BATCH_SIZE = 1
GPU_PIXELS_PER_BATCH = 2**22
GPU_MAX_BATCH_SIZE = 64


def default_batch_size(device: torch.device, patch_size: list[int] | tuple[int, ...]) -> int:
    """Tiles per forward pass for `device` and a patch of `patch_size` pixels (voxels)."""
    if device.type == "cpu":
        return CPU_BATCH_SIZE
    pixels = math.prod(int(p) for p in patch_size)
    return max(1, min(GPU_MAX_BATCH_SIZE, GPU_PIXELS_PER_BATCH // max(pixels, 1)))


@check_overrides
class SvsegPredictor(nnUNetPredictor):
    """nnU-Net's predictor that runs `batch_size` sliding-window tiles per forward pass."""

    def __init__(self, device: torch.device, use_mirroring: bool, batch_size: int, tile_step_size: float = 0.5):
        # nnU-Net prints a notice on stdout for non-CUDA devices; library code must not print.
        with contextlib.redirect_stdout(io.StringIO()) as notice:
            super().__init__(tile_step_size=tile_step_size, use_gaussian=True, use_mirroring=use_mirroring,
                             perform_everything_on_device=device.type == "cuda", device=device, verbose=False,
                             verbose_preprocessing=False, allow_tqdm=False)
        if notice.getvalue().strip():
            log.debug("nnU-Net: %s", notice.getvalue().strip())
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.on_slices: Callable[[float], None] | None = None  # told each batch's share of the slices, per fold

    @torch.inference_mode()
    def _internal_predict_sliding_window_return_logits(self, data: torch.Tensor, slicers: list,
                                                       do_on_device: bool = True) -> torch.Tensor:
        """Gaussian-weighted average of the network's logits over all tiles, `batch_size` at a time.

        `data` is the padded ``(c, z, y, x)`` image, `slicers` nnU-Net's tile positions (each
        selects ``(c, *patch)``); returns ``(heads, z, y, x)`` float32 logits on the results device.
        """
        results_device = self.device if do_on_device else torch.device("cpu")
        data = data.to(results_device)
        heads = self.label_manager.num_segmentation_heads
        logits = torch.zeros((heads, *data.shape[1:]), dtype=torch.float32, device=results_device)
        weights = torch.zeros(data.shape[1:], dtype=torch.float32, device=results_device)
        if self.use_gaussian:
            gaussian = compute_gaussian(tuple(self.configuration_manager.patch_size), sigma_scale=1.0 / 8,
                                        value_scaling_factor=10, dtype=torch.float32, device=results_device)
        else:
            gaussian = torch.ones(tuple(self.configuration_manager.patch_size), dtype=torch.float32,
                                  device=results_device)
        batches = [slicers[i:i + self.batch_size] for i in range(0, len(slicers), self.batch_size)]
        for tiles, batch_slicers in _prefetched(data, batches, self.device):
            predictions = self._internal_maybe_mirror_and_predict(tiles).to(results_device, torch.float32)
            predictions *= gaussian
            for prediction, s in zip(predictions, batch_slicers, strict=True):
                logits[s] += prediction
                weights[s[1:]] += gaussian
            if self.on_slices is not None:
                folds = max(1, len(self.list_of_parameters))
                self.on_slices(len(batch_slicers) / len(slicers) * data.shape[1] / folds)
        logits /= weights
        return logits


def _prefetched(data: torch.Tensor, batches: list[list], device: torch.device) -> Iterator[tuple[torch.Tensor, list]]:
    """Yield ``(stacked tiles on device, their slicers)`` per batch, assembled in a helper thread.

    As in nnU-Net's own loop, the next batch is cut out (and copied to the GPU) while the network
    runs on the current one. On the CPU this matters too: with the copies in the calling thread,
    two torch threads on a busy 2-core machine ran 1.5-2x slower than nnU-Net's loop; with them
    in a helper thread the two loops take the same time (docs/benchmarks.md).
    """
    handoff: Queue = Queue(maxsize=2)

    def produce() -> None:
        try:
            with torch.inference_mode():
                for batch in batches:
                    tiles = torch.stack([data[s] for s in batch]).to(device, non_blocking=True)
                    handoff.put((tiles, batch))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            handoff.put(exc)
            return
        handoff.put(None)

    worker = Thread(target=produce, daemon=True)
    worker.start()
    while (item := handoff.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item
    worker.join()


def make_predictor(model: LoadedModel, device: torch.device, use_mirroring: bool,
                   batch_size: int | None = None) -> SvsegPredictor:
    """A ready predictor for `model` through nnU-Net's ``manual_initialization`` (no trainer lookup)."""
    size = batch_size or default_batch_size(device, model.configuration_manager.patch_size)
    predictor = SvsegPredictor(device, use_mirroring, size)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints when nnUNet_compile asks for torch.compile
        predictor.manual_initialization(model.network, model.plans_manager, model.configuration_manager,
                                        model.parameters, model.dataset_json, model.trainer_name,
                                        model.mirroring_axes)
    if use_mirroring and not model.mirroring_axes:
        log.info("the model allows no mirroring axes; test-time augmentation has no effect")
    return predictor
