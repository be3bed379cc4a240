"""Predicting one case in chunks of slices, so memory stays bounded for large volumes.

nnU-Net predicts a whole case at once: logits for every class over the whole volume, then
resampling (in float64) and softmax before the argmax. For a 512x512x400 CT with a few classes
that is several GB. The 2D configuration predicts every slice on its own, so the volume can be
split along its slice axis (the first axis after nnU-Net's ``transpose_forward``) without
changing any result: each chunk of slices is predicted, converted to labels by nnU-Net's own
``convert_predicted_logits_to_segmentation_with_correct_shape`` and written into a uint8
(uint16 for > 254 labels) label volume. Peak memory is then the preprocessed image plus one
chunk's logits and probabilities.

Preprocessing (transpose, crop to the non-zero box, normalisation, in-plane resampling) still runs
on the whole case, because normalisation statistics are per image.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)

# Bytes one chunk may use for its logits and their resampled, softmaxed copies.
DEFAULT_CHUNK_BYTES = 512 * 2**20
# float64 resampling buffer + float32 probabilities + float32 logits, per class and pixel
_BYTES_PER_CLASS_PIXEL = 8 + 4 + 4


@dataclass
class CasePrediction:
    """Labels (input orientation, ``(z, y, x)``) and optional class probabilities ``(K, z, y, x)``."""

    labels: np.ndarray
    probabilities: np.ndarray | None
    num_slices: int


def preprocess(predictor, data: np.ndarray, properties: dict) -> tuple[torch.Tensor, dict]:
    """nnU-Net's preprocessing of one ``(c, z, y, x)`` array; returns the network input and properties."""
    preprocessor = predictor.configuration_manager.preprocessor_class(verbose=False)
    result, _, properties = preprocessor.run_case_npy(data, None, properties, predictor.plans_manager,
                                                      predictor.configuration_manager, predictor.dataset_json)
    return torch.from_numpy(np.ascontiguousarray(result, dtype=np.float32)), properties


def auto_chunk_slices(predictor, properties: dict, max_bytes: int | None = None) -> int:
    """How many slices fit in `max_bytes` (default :data:`DEFAULT_CHUNK_BYTES`) of per-chunk buffers.

    Never less than one slice.
    """
    max_bytes = DEFAULT_CHUNK_BYTES if max_bytes is None else max_bytes
    heads = predictor.label_manager.num_segmentation_heads
    pixels_per_slice = math.prod(int(s) for s in properties["shape_before_cropping"][1:])
    return max(1, int(max_bytes // (heads * pixels_per_slice * _BYTES_PER_CLASS_PIXEL)))


def predict_case(predictor, data: np.ndarray, properties: dict, chunk_slices: int | None = None,
                 with_probabilities: bool = False) -> CasePrediction:
    """Labels for one case given as nnU-Net's ``(c, z, y, x)`` array and ``{'spacing': ...}``.

    `chunk_slices` slices of the preprocessed volume are predicted at a time (None: as many as
    fit in :data:`DEFAULT_CHUNK_BYTES`). 3D configurations are never split, since their patches
    see several slices at once.
    """
    network_input, properties = preprocess(predictor, data, properties)
    return predict_preprocessed(predictor, network_input, properties, chunk_slices, with_probabilities)


def predict_preprocessed(predictor, network_input: torch.Tensor, properties: dict, chunk_slices: int | None = None,
                         with_probabilities: bool = False) -> CasePrediction:
    """:func:`predict_case` for an input already through :func:`preprocess`."""
    num_slices = int(network_input.shape[1])
    if len(predictor.configuration_manager.patch_size) == 3:
        chunk_slices = num_slices
    elif chunk_slices is None:
        chunk_slices = auto_chunk_slices(predictor, properties)
    chunk_slices = max(1, min(int(chunk_slices), num_slices))
    if chunk_slices >= num_slices:
        labels, probabilities = _to_labels(predictor, network_input, properties, with_probabilities)
    else:
        labels, probabilities = _predict_in_chunks(predictor, network_input, properties, chunk_slices,
                                                   with_probabilities)
    log.debug("predicted %d slices in chunks of %d", num_slices, chunk_slices)
    return CasePrediction(labels, probabilities, num_slices)


def logits_to_labels(predictor, logits: torch.Tensor, properties: dict, with_probabilities: bool
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels (and float16 probabilities) from logits, by nnU-Net's own export code.

    Resamples to the cropped input shape, applies softmax/sigmoid and argmax (or the region
    order), puts the crop back and undoes ``transpose_forward``.
    """
    from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

    converted = convert_predicted_logits_to_segmentation_with_correct_shape(
        logits, predictor.plans_manager, predictor.configuration_manager, predictor.label_manager, properties,
        return_probabilities=with_probabilities, num_threads_torch=torch.get_num_threads())
    if with_probabilities:
        return converted[0], converted[1].astype(np.float16)
    return converted, None


def _to_labels(predictor, network_input: torch.Tensor, properties: dict, with_probabilities: bool
               ) -> tuple[np.ndarray, np.ndarray | None]:
    logits = predictor.predict_logits_from_preprocessed_data(network_input)
    return logits_to_labels(predictor, logits, properties, with_probabilities)


def _predict_in_chunks(predictor, network_input: torch.Tensor, properties: dict, chunk_slices: int,
                       with_probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Predict `chunk_slices` slices at a time and assemble labels in the input's orientation.

    Each chunk is handed to nnU-Net's export as if it were a case of its own: its crop box spans
    the chunk's slices and the image's in-plane box. The result, already transposed back, goes
    to the chunk's place along the input axis that ``transpose_forward`` moved first.
    """
    plans_manager, label_manager = predictor.plans_manager, predictor.label_manager
    shape_before_cropping = tuple(int(s) for s in properties["shape_before_cropping"])
    bbox = [list(map(int, b)) for b in properties["bbox_used_for_cropping"]]
    cropped_shape = tuple(int(s) for s in properties["shape_after_cropping_and_before_resampling"])
    num_slices = int(network_input.shape[1])
    if num_slices != cropped_shape[0]:
        raise RuntimeError(f"slice count changed in preprocessing ({cropped_shape[0]} -> {num_slices})")
    slice_axis = int(plans_manager.transpose_forward[0])  # input axis holding the slices
    input_shape = tuple(shape_before_cropping[i] for i in plans_manager.transpose_backward)
    labels = np.zeros(input_shape, dtype=np.uint8 if len(label_manager.foreground_labels) < 255 else np.uint16)
    probabilities = None
    if with_probabilities:
        probabilities = np.zeros((label_manager.num_segmentation_heads, *input_shape), dtype=np.float16)
        if not label_manager.has_regions:
            probabilities[0] = 1  # outside the non-zero box nnU-Net reports certain background
    for start in range(0, num_slices, chunk_slices):
        stop = min(start + chunk_slices, num_slices)
        chunk_properties = dict(properties)
        chunk_properties["shape_before_cropping"] = (stop - start, *shape_before_cropping[1:])
        chunk_properties["bbox_used_for_cropping"] = [[0, stop - start], *bbox[1:]]
        chunk_properties["shape_after_cropping_and_before_resampling"] = (stop - start, *cropped_shape[1:])
        chunk_labels, chunk_probabilities = _to_labels(predictor, network_input[:, start:stop], chunk_properties,
                                                       with_probabilities)
        target = [slice(None)] * len(input_shape)
        target[slice_axis] = slice(bbox[0][0] + start, bbox[0][0] + stop)
        labels[tuple(target)] = chunk_labels
        if probabilities is not None:
            probabilities[(slice(None), *target)] = chunk_probabilities
    return labels, probabilities
