"""L-SNet (locate, recalibrate, segment): registered as ``lsnet`` and ``lsnet_tiny``.

See :mod:`svseg.networks.lsnet.model` for the data flow and docs/architecture.md ("lsnet").
Importing this package runs the recipes' ``@register_network`` decorators.
"""

from svseg.networks.lsnet.model import LSNet, LSNetTrainingOutput
from svseg.networks.lsnet.recalibration import RoIs, inverse_theta, paste_back, recalibrate, roi_theta
from svseg.networks.lsnet.recipes import lsnet, lsnet_tiny
from svseg.networks.lsnet.targets import LNetTargets, Objects, find_objects, lnet_targets

__all__ = [
    "LNetTargets",
    "LSNet",
    "LSNetTrainingOutput",
    "Objects",
    "RoIs",
    "find_objects",
    "inverse_theta",
    "lnet_targets",
    "lsnet",
    "lsnet_tiny",
    "paste_back",
    "recalibrate",
    "roi_theta",
]
