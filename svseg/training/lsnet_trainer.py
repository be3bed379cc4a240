"""``LSNetTrainer``: SvsegTrainer with L-SNet's two updates per iteration (paper §2.5).

Each training iteration, on the batch nnU-Net's loader and augmentation deliver:

1. targets: connected components of the label patch give L-Net's heatmap and box targets
   (svseg.networks.lsnet.targets), so nothing changes in nnU-Net's data pipeline;
2. L-Net step: ``network(x)`` -> heatmap logits and distances, loss eq. 5
   (svseg.training.lsnet_losses), backward, optimizer step (S-Net has no gradient: untouched);
3. joint step: ``network(x, objects)`` runs the updated L-Net, places one RoI per true object
   (top-3 keypoint draw, plus L-Net's false alarms), recalibrates and runs S-Net; the loss is the
   recipe's segmentation loss (nnU-Net's Dice + CE by default) on the RoIs against the label
   patch sampled with the same transform (nearest neighbour), eq. 6. Its gradient reaches
   L-Net's box head through the RoI placement, multiplied by the network's ``decay``.

The logged training loss is the sum of both. Validation (pseudo-Dice, the final validation) uses
nnU-Net's own steps on the network's eval-mode output, i.e. exactly what prediction does. The
step lives in :class:`LSNetStepHooks`, which sits just above nnU-Net's trainer in the method
order, so svseg's mixins (progress bar) still wrap it. torch.compile is off: the forward is
data-dependent (components, RoI counts). Region-based (sigmoid) labels and DDP are refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.utilities.helpers import dummy_context
from torch import autocast

from svseg.errors import SvsegError
from svseg.networks.lsnet.recalibration import recalibrate
from svseg.networks.lsnet.targets import lnet_targets
from svseg.nnunet_touchpoints import check_overrides
from svseg.training.lsnet_losses import lnet_loss
from svseg.training.network_from_plans import unwrap_network
from svseg.training.trainer import SvsegTrainer

GRADIENT_CLIP = 12.0
"""nnU-Net's gradient-norm clip, applied to each of the two updates."""


class LSNetStepHooks(nnUNetTrainer):
    """The two-update training step (a mixin placed directly above ``nnUNetTrainer``)."""

    def train_step(self, batch: dict) -> dict:
        """L-Net update on eq. 5, then joint update on eq. 6; returns the summed loss."""
        data = batch["data"].to(self.device, non_blocking=True)
        target = batch["target"]
        target = (target[0] if isinstance(target, list) else target).to(self.device, non_blocking=True)
        core = unwrap_network(self.network)
        labels = self.label_manager
        targets = lnet_targets(target, core.num_classes, core.sigma, core.positive_threshold,
                               labels.ignore_label if labels.has_ignore_label else None)

        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            heatmap_logits, distances = self.network(data)
            loss_l = lnet_loss(heatmap_logits, distances, targets)
        self._update(loss_l)

        self.optimizer.zero_grad(set_to_none=True)
        loss_s = torch.zeros((), device=self.device)
        with self._autocast():
            output = self.network(data, targets.objects)
            if output.roi_logits is not None:
                roi_target = recalibrate(target.float(), output.rois.batch_index, output.theta.detach(),
                                         core.roi_size, mode="nearest").round().to(target.dtype)
                loss_s = self.loss(output.roi_logits, roi_target)
        if output.roi_logits is not None:
            self._update(loss_s)
        return {"loss": np.asarray((loss_l.detach() + loss_s.detach()).cpu().numpy())}

    def _autocast(self) -> Any:
        # as nnU-Net's own step: autocast on CUDA only (slow on CPU, unsupported on MPS)
        return autocast(self.device.type, enabled=True) if self.device.type == "cuda" else dummy_context()

    def _update(self, loss: torch.Tensor) -> None:
        """Backward, clip, step (through nnU-Net's grad scaler on CUDA), as nnU-Net's step does."""
        if self.grad_scaler is not None:
            self.grad_scaler.scale(loss).backward()
            self.grad_scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), GRADIENT_CLIP)
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), GRADIENT_CLIP)
            self.optimizer.step()

    def _do_i_compile(self) -> bool:
        return False


@check_overrides
class LSNetTrainer(SvsegTrainer, LSNetStepHooks):
    """SvsegTrainer (recipe, registry network, checkpoints, progress) with L-SNet's training step."""

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int | str,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),
    ) -> None:
        super().__init__(plans, configuration, fold, dataset_json, device)
        if self.label_manager.has_regions:
            raise SvsegError("L-SNet trains with one label per pixel (softmax); region-based labels are not supported")
        if self.is_ddp:
            # the L-Net update leaves S-Net without gradients, which DDP's reducer (built by nnU-Net
            # without find_unused_parameters) does not allow
            raise SvsegError("L-SNet trains on one device; multi-GPU (DDP) training is not supported for it")
