"""L-SNet: L-Net locates RoIs, RoI recalibration resamples them, S-Net segments them (Xu et al.).

Paper: "L-SNet: From region localization to scale invariant medical image segmentation"
(Xu et al.; docs/design/peer-networks.md §4). Parts: :mod:`.lnet` (L-Net and its heads), :mod:`.recalibration`
(the affine RoI map and its inverse), :mod:`.rois` (which RoIs), :mod:`.targets` (L-Net's targets);
S-Net is any registered 2D network, built by :func:`svseg.networks.create_network`.

nnU-Net contract: ``LSNet(input_channels, num_classes, deep_supervision=False, **arch_kwargs)``,
``supports_deep_supervision = False`` and a ``decoder.deep_supervision`` flag (no effect). The
modes differ because the two stages are data-dependent:

- eval: ordinary (B, num_classes, H, W) logits, so nnU-Net's sliding window, ``svseg predict``,
  the trainer's validation and ``svseg compare`` use it unchanged. Heatmap > threshold ->
  component centres -> RoIs -> S-Net -> softmax -> inverse transform onto the slice -> merge
  (each pixel takes the covering RoI most confident of foreground) -> log-probabilities;
  pixels no RoI covers (all of a slice without keypoint) are background with probability
  1 - 1e-4. On torch's ``meta`` device (cost counting) one RoI is assumed.
- train: ``forward(x)`` returns L-Net's (heatmap logits, distances); ``forward(x, objects)``
  also places one RoI per true object (:func:`.rois.training_rois`) and returns
  :class:`LSNetTrainingOutput` with S-Net's RoI logits, for
  :class:`svseg.training.lsnet_trainer.LSNetTrainer`.

The gradient S-Net's loss sends into L-Net passes through the distances that place each RoI and
is multiplied by ``decay`` (paper §2.5, default 0.5) on the way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import torch
from torch import nn

from svseg.errors import SvsegError
from svseg.networks.lsnet.lnet import LNet
from svseg.networks.lsnet.recalibration import RoIs, merge_by_max, paste_back, recalibrate, roi_theta, scale_gradient
from svseg.networks.lsnet.rois import detect_rois, training_rois
from svseg.networks.lsnet.targets import Objects
from svseg.networks.recipe_kwargs import refuse_deep_supervision
from svseg.networks.registry import create_network

BACKGROUND_EPS = 1e-4
"""Probability left to the foreground classes where no RoI says anything (log of 0 is not a logit)."""


@dataclass(frozen=True)
class LSNetTrainingOutput:
    """What one joint training forward produces."""

    heatmap_logits: torch.Tensor  # (B, K, H, W)
    distances: torch.Tensor  # (B, 4, H, W)
    rois: RoIs
    theta: torch.Tensor  # (N, 2, 3)
    roi_logits: torch.Tensor  # (N, num_classes, R, R)


class LSNet(nn.Module):
    """L-SNet for (B, C, H, W) slices and `num_classes` label classes (background included).

    Keyword arguments (plain JSON in plans): ``lnet`` the L-Net backbone's PlainConvUNet kwargs
    (see :func:`.lnet.lnet_backbone_kwargs`), ``snet`` / ``snet_kwargs`` a registered network name
    and its recipe overrides, ``roi_size`` S-Net's input side, ``margin`` the border margin in
    pixels, ``sigma`` the heatmap Gaussian's sigma, ``positive_threshold`` where box regression is
    trained, ``threshold`` the inference heatmap threshold, ``box_scale`` the distance unit,
    ``decay`` the gradient factor from S-Net into L-Net, ``top_k`` / ``negatives`` / ``max_rois``
    the training RoI sampling (:mod:`.rois`), ``max_rois_per_pass`` S-Net's batch at inference.
    """

    supports_deep_supervision: ClassVar[bool] = False
    trainer_class_name: ClassVar[str] = "LSNetTrainer"
    """The svseg trainer that knows L-SNet's losses and two-step update (svseg.training picks it)."""

    def __init__(
        self,
        input_channels: int,
        num_classes: int,
        deep_supervision: bool = False,
        *,
        lnet: Mapping[str, Any],
        snet: str = "unet",
        snet_kwargs: Mapping[str, Any] | None = None,
        roi_size: int = 64,
        margin: float = 15.0,
        sigma: float = 2.0,
        positive_threshold: float = 0.5,
        threshold: float = 0.5,
        box_scale: float = 8.0,
        decay: float = 0.5,
        top_k: int = 3,
        negatives: int = 1,
        max_rois: int = 32,
        max_rois_per_pass: int = 64,
    ) -> None:
        super().__init__()
        refuse_deep_supervision("L-SNet", deep_supervision, "one full-size output")
        if int(num_classes) < 2:
            raise SvsegError(f"L-SNet needs background plus at least one foreground class, got {num_classes} classes")
        if int(roi_size) < 8 or margin < 0 or sigma <= 0 or not 0 < threshold < 1 or top_k < 1 or max_rois < 1:
            raise SvsegError(
                f"L-SNet needs roi_size >= 8, margin >= 0, sigma > 0, 0 < threshold < 1, top_k >= 1 and "
                f"max_rois >= 1; got {roi_size}, {margin}, {sigma}, {threshold}, {top_k}, {max_rois}"
            )
        self.num_classes = int(num_classes)
        self.lnet = LNet(input_channels, self.num_classes - 1, lnet, box_scale)
        self.snet = create_network(snet, input_channels, self.num_classes, **dict(snet_kwargs or {}))
        self.roi_size = int(roi_size)
        self.margin = float(margin)
        self.sigma = float(sigma)
        self.positive_threshold = float(positive_threshold)
        self.threshold = float(threshold)
        self.decay = float(decay)
        self.top_k = int(top_k)
        self.negatives = int(negatives)
        self.max_rois = int(max_rois)
        self.max_rois_per_pass = int(max_rois_per_pass)
        self.decoder = SimpleNamespace(deep_supervision=False)  # nnU-Net toggles this; L-SNet has no DS outputs

    def forward(self, x: torch.Tensor, objects: Objects | None = None) -> Any:
        if x.ndim != 4:
            raise SvsegError(f"L-SNet is 2D and needs (B, C, H, W) input, got {tuple(x.shape)}")
        if not self.training:
            return self.predict_logits(x)
        heatmap_logits, distances = self.lnet(x)
        if objects is None:
            return heatmap_logits, distances
        rois = training_rois(heatmap_logits, distances, objects, self.top_k, self.negatives, self.max_rois,
                             self.threshold)
        theta = self.theta(rois, scale_gradient(rois.distances, self.decay), x.shape[-2:])
        roi_logits = self.snet(recalibrate(x, rois.batch_index, theta, self.roi_size)) if len(rois) else None
        return LSNetTrainingOutput(heatmap_logits, distances, rois, theta, roi_logits)

    def theta(self, rois: RoIs, distances: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        """The RoIs' recalibration matrices on slices of `shape` (H, W)."""
        return roi_theta(rois.keypoints, distances.float(), self.margin, int(shape[0]), int(shape[1]))

    @torch.no_grad()
    def predict_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, num_classes, H, W) log-probabilities of the whole pipeline (see the module docstring)."""
        batch, _, height, width = x.shape
        if x.device.type == "meta":
            return self._meta_forward(x)
        heatmap_logits, distances = self.lnet(x)
        rois = detect_rois(torch.sigmoid(heatmap_logits.float()), distances.float(), self.threshold)
        pasted = []
        if len(rois):
            theta = self.theta(rois, rois.distances, (height, width))
            for start in range(0, len(rois), self.max_rois_per_pass):
                part = slice(start, start + self.max_rois_per_pass)
                crops = recalibrate(x, rois.batch_index[part], theta[part], self.roi_size)
                probabilities = torch.softmax(self.snet(crops).float(), 1)
                pasted += paste_back(probabilities, rois.batch_index[part], theta[part], height, width)
        probabilities = merge_by_max(pasted, batch, self.num_classes, height, width, x.device)
        floor = BACKGROUND_EPS / (self.num_classes - 1)
        probabilities[:, 1:] = probabilities[:, 1:].clamp_min(floor)
        probabilities[:, 0] = probabilities[:, 0].clamp(floor, 1 - BACKGROUND_EPS)
        return torch.log(probabilities)

    def _meta_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes only (meta tensors carry no data): L-Net plus S-Net on one RoI, for MAC counting."""
        self.lnet(x)
        self.snet(x.new_zeros(1, x.shape[1], self.roi_size, self.roi_size))
        return x.new_zeros(x.shape[0], self.num_classes, *x.shape[2:])
