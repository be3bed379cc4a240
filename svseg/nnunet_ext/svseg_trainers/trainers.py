"""Re-export for nnU-Net's scan, which inspects the modules of a package but not its ``__init__``."""

from svseg.training.lsnet_trainer import LSNetTrainer
from svseg.training.trainer import SvsegTrainer

__all__ = ["LSNetTrainer", "SvsegTrainer"]
