"""Evaluation by object size: object, image, paper and volume blocks (docs/evaluation.md).

The public entry point is :func:`evaluate_folders`; ``svseg evaluate`` and the trainer's
final validation both call it.
"""

from svseg.evaluation.api import EvaluationResult, dataset_label_mapping, dataset_labels, evaluate_folders

__all__ = ["EvaluationResult", "dataset_label_mapping", "dataset_labels", "evaluate_folders"]
