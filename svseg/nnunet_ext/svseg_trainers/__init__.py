"""svseg's trainers under the names nnU-Net looks up (see :mod:`svseg.nnunet_ext`)."""

from svseg.training.lsnet_trainer import LSNetTrainer
from svseg.training.trainer import SvsegTrainer

__all__ = ["LSNetTrainer", "SvsegTrainer"]
