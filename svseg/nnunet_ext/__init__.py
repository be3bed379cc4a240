"""A directory for nnU-Net's ``nnUNet_extTrainer`` variable, so nnU-Net's own tools find svseg's trainer.

nnU-Net 2.8 looks up trainers by class name (``nnUNetv2_train -tr``, and ``nnUNetv2_predict`` via
the ``trainer_name`` stored in each checkpoint). Besides its own package it scans the
directories listed in ``nnUNet_extTrainer``, importing every module there. Pointing it at
site-packages would import everything installed, so svseg ships this small dedicated folder::

    export nnUNet_extTrainer=$(python -c 'import svseg.nnunet_ext as e; print(e.EXT_TRAINER_DIR)')
    nnUNetv2_predict -i in/ -o out/ -d ATLAS -c 2d -tr SvsegTrainer -p svsegPlans -f 0

svseg itself never needs it: ``svseg train`` and ``svseg predict`` use the class directly.
"""

from pathlib import Path

EXT_TRAINER_DIR = Path(__file__).resolve().parent
"""The folder to put in ``nnUNet_extTrainer``."""
