"""L-Net's training targets, computed from a batch of segmentation labels (paper §2.1, eq. 1).

Objects are the connected components (8-connectivity) of each foreground class on each slice, so
the targets come from the label patches nnU-Net's loader and augmentation deliver, with nothing
precomputed on disk. For an object with pixel bounding box rows [y0, y1), columns [x0, x1):

- keypoint: the pixel holding the box centre, (floor((x0 + x1) / 2), floor((y0 + y1) / 2)) as
  (column, row), so the Gaussian peak is exactly 1 there (CornerNet/CenterNet's convention);
- heatmap (one channel per foreground class): ``max_k exp(-d_k^2 / (2 sigma^2))`` over the objects
  k of that class, d_k the distance in pixels from the object's keypoint;
- box: the four edges (x0, y0, x1, y1) in the pixel-centre convention of
  :mod:`svseg.networks.lsnet.recalibration` (a pixel j spans [j, j + 1]).

A pixel is *positive* for the box loss when its heatmap value reaches ``positive_threshold``; it
regresses the box of the object whose Gaussian is highest there (``owner``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Objects:
    """M objects of a batch: ``batch`` (M,), ``classes`` (M,) 1-based labels, ``boxes`` (M, 4) x0, y0, x1, y1."""

    batch: torch.Tensor
    classes: torch.Tensor
    boxes: torch.Tensor

    def __len__(self) -> int:
        return int(self.batch.shape[0])

    @property
    def keypoints(self) -> torch.Tensor:
        """(M, 2) integer (column, row) of the pixel holding each box centre."""
        centre = (self.boxes[:, :2] + self.boxes[:, 2:]) / 2
        return torch.floor(centre).long()


@dataclass(frozen=True)
class LNetTargets:
    """Heatmap (B, K, H, W), owner (B, H, W) object index or -1, positive (B, H, W) mask, and the objects."""

    heatmap: torch.Tensor
    owner: torch.Tensor
    positive: torch.Tensor
    objects: Objects


def find_objects(labels: np.ndarray, num_classes: int, ignore_label: int | None = None) -> Objects:
    """Connected components of every foreground class in (B, H, W) integer `labels`."""
    batch, classes, boxes = [], [], []
    for b, label in enumerate(labels):
        for cls in range(1, num_classes):
            if ignore_label is not None and cls == ignore_label:
                continue
            components, count = ndimage.label(label == cls, structure=EIGHT_CONNECTED)
            for rows, cols in ndimage.find_objects(components)[:count]:
                batch.append(b)
                classes.append(cls)
                boxes.append((cols.start, rows.start, cols.stop, rows.stop))
    return Objects(
        torch.tensor(batch, dtype=torch.long),
        torch.tensor(classes, dtype=torch.long),
        torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
    )


def lnet_targets(labels: torch.Tensor, num_classes: int, sigma: float, positive_threshold: float,
                 ignore_label: int | None = None) -> LNetTargets:
    """Heatmap, owner map and positives for a (B, 1, H, W) or (B, H, W) label batch (on its device)."""
    device = labels.device
    array = labels.detach().reshape(labels.shape[0], *labels.shape[-2:]).cpu().numpy().astype(np.int64)
    objects = find_objects(array, num_classes, ignore_label)
    batch, height, width = array.shape
    heatmap = np.zeros((batch, max(num_classes - 1, 1), height, width), np.float32)
    strongest = np.zeros((batch, height, width), np.float32)
    owner = np.full((batch, height, width), -1, np.int64)
    radius = int(np.ceil(3 * sigma))
    for index, ((x, y), b, cls) in enumerate(
        zip(objects.keypoints.tolist(), objects.batch.tolist(), objects.classes.tolist(), strict=True)
    ):
        r0, r1 = max(0, y - radius), min(height, y + radius + 1)
        c0, c1 = max(0, x - radius), min(width, x + radius + 1)
        yy, xx = np.mgrid[r0:r1, c0:c1]
        gaussian = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)).astype(np.float32)
        channel = heatmap[b, cls - 1, r0:r1, c0:c1]
        np.maximum(channel, gaussian, out=channel)
        window = strongest[b, r0:r1, c0:c1]
        wins = gaussian > window
        window[wins] = gaussian[wins]
        owner[b, r0:r1, c0:c1][wins] = index
    positive = (strongest >= positive_threshold) & (owner >= 0)
    return LNetTargets(
        torch.from_numpy(heatmap).to(device),
        torch.from_numpy(owner).to(device),
        torch.from_numpy(positive).to(device),
        Objects(objects.batch.to(device), objects.classes.to(device), objects.boxes.to(device)),
    )
