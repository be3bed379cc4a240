"""Writing predicted masks (and probabilities) in the input's format and geometry, atomically.

Masks go through :func:`svseg.io.write_mask_like`, which copies spacing, origin and direction
from the input image and writes through a temporary file, so an interrupted run never leaves a
half-written mask. Probabilities are saved like nnU-Net's ``--save_probabilities`` (an ``.npz``
with key ``probabilities``, classes first) but as float16 and shaped like the mask,
``(K, *mask.shape)``, to keep large volumes affordable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from svseg.inference.chunked import CasePrediction
from svseg.inference.inputs import Case
from svseg.io import Image, stem_of, write_mask_like
from svseg.utils.fs import atomic_path


def probabilities_path(case: Case) -> Path:
    """Where the case's class probabilities go: ``<mask stem>.npz`` next to the mask."""
    return case.output.with_name(stem_of(case.output) + ".npz")


def output_paths(case: Case, save_probabilities: bool) -> list[Path]:
    """Every file predicting `case` writes."""
    return [case.output, probabilities_path(case)] if save_probabilities else [case.output]


def write_prediction(case: Case, image: Image, prediction: CasePrediction) -> list[Path]:
    """Write the mask (and probabilities, if predicted) for `case`; returns the files written.

    The prediction's labels are nnU-Net's ``(z, y, x)`` array; 2D images were predicted as one
    slice, ``(1, H, W)``, and are written as ``(H, W)``.
    """
    labels = prediction.labels
    if not image.is_volume:
        labels = labels.reshape(image.spatial_shape)
    write_mask_like(case.output, labels, image)
    written = [case.output]
    if prediction.probabilities is not None:
        probabilities = prediction.probabilities.reshape((-1, *image.spatial_shape))
        target = probabilities_path(case)
        with atomic_path(target) as tmp:
            np.savez_compressed(tmp, probabilities=probabilities)
        written.append(target)
    return written
