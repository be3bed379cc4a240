"""Which RoIs S-Net sees: sampled around true objects in training, found on the heatmap at inference.

Training (paper §2.5: "a randomly selected predicted keypoint of top three highest probability"),
made per object so that several objects on one slice each get a RoI: inside each true object's
box, the `top_k` pixels of the predicted heatmap of its class are candidates and one is drawn at
random; its predicted distances place the RoI. Each slice may add `negatives` RoIs at its most
confident predicted keypoints outside every true box (when above the threshold), so S-Net also
learns to answer "background" for L-Net's false alarms. At most `max_rois` RoIs are kept (a
random subset) to bound S-Net's batch on crowded slices.

Inference (paper §2.5): the heatmap probability is thresholded (0.5), and the centre of each
8-connected component, rounded to a pixel, is a keypoint; its distances place the RoI.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from svseg.networks.lsnet.recalibration import RoIs
from svseg.networks.lsnet.targets import EIGHT_CONNECTED, Objects


def _pixel_rois(batch: list[int], rows: list[int], cols: list[int], classes: list[int], distances: torch.Tensor
                ) -> RoIs:
    device = distances.device
    b = torch.tensor(batch, dtype=torch.long, device=device)
    r = torch.tensor(rows, dtype=torch.long, device=device)
    c = torch.tensor(cols, dtype=torch.long, device=device)
    keypoints = torch.stack([c.float() + 0.5, r.float() + 0.5], 1)
    return RoIs(b, keypoints, distances[b, :, r, c].reshape(-1, 4), torch.tensor(classes, dtype=torch.long,
                                                                                     device=device))


def training_rois(heatmap_logits: torch.Tensor, distances: torch.Tensor, objects: Objects, top_k: int = 3,
                  negatives: int = 1, max_rois: int = 32, threshold: float = 0.5,
                  generator: torch.Generator | None = None) -> RoIs:
    """RoIs for one training step; `distances` keeps its graph, so S-Net's loss reaches L-Net's box head."""
    heat = heatmap_logits.detach().float().cpu()
    height, width = heat.shape[-2:]
    batch, rows, cols, classes = [], [], [], []
    for b, cls, box in zip(objects.batch.tolist(), objects.classes.tolist(), objects.boxes.tolist(), strict=True):
        x0, y0, x1, y1 = (int(v) for v in box)
        region = heat[b, cls - 1, y0:y1, x0:x1].reshape(-1)
        candidates = torch.topk(region, min(top_k, region.numel())).indices
        pick = int(candidates[torch.randint(len(candidates), (1,), generator=generator)])
        batch.append(b)
        rows.append(y0 + pick // (x1 - x0))
        cols.append(x0 + pick % (x1 - x0))
        classes.append(cls)
    if negatives > 0:
        outside = torch.ones(heat.shape[0], height, width, dtype=torch.bool)
        for b, box in zip(objects.batch.tolist(), objects.boxes.tolist(), strict=True):
            x0, y0, x1, y1 = (int(v) for v in box)
            outside[b, y0:y1, x0:x1] = False
        best, best_class = heat.max(1)
        best = torch.where(outside, best, torch.full_like(best, -torch.inf))
        logit_threshold = float(np.log(threshold / (1 - threshold)))
        for b in range(heat.shape[0]):
            scores, flat = torch.topk(best[b].reshape(-1), negatives)
            for score, index in zip(scores.tolist(), flat.tolist(), strict=True):
                if score >= logit_threshold:
                    batch.append(b)
                    rows.append(index // width)
                    cols.append(index % width)
                    classes.append(int(best_class[b].reshape(-1)[index]) + 1)
    if len(batch) > max_rois:
        keep = torch.randperm(len(batch), generator=generator)[:max_rois].tolist()
        batch, rows, cols, classes = ([values[i] for i in keep] for values in (batch, rows, cols, classes))
    return _pixel_rois(batch, rows, cols, classes, distances)


def detect_rois(heatmap_probabilities: torch.Tensor, distances: torch.Tensor, threshold: float = 0.5) -> RoIs:
    """One RoI per connected component of ``heatmap > threshold``, at the component's rounded centre."""
    heat = heatmap_probabilities.detach().float().cpu().numpy()
    batch, rows, cols, classes = [], [], [], []
    for b in range(heat.shape[0]):
        for k in range(heat.shape[1]):
            mask = heat[b, k] > threshold
            components, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
            if count == 0:
                continue
            for row, col in ndimage.center_of_mass(mask, components, range(1, count + 1)):
                batch.append(b)
                rows.append(int(np.floor(row + 0.5)))
                cols.append(int(np.floor(col + 0.5)))
                classes.append(k + 1)
    return _pixel_rois(batch, rows, cols, classes, distances)
