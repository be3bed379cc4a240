"""svseg's trainers under the names nnU-Net looks up (see :mod:`svseg.nnunet_ext`)."""

from svseg.training.trainer import SvsegTrainer

__all__ = ["SvsegTrainer"]
