"""Dataset import (common layouts -> nnU-Net raw dataset) and validation of raw datasets."""

from svseg.datasets.importer import import_dataset
from svseg.datasets.problems import DatasetProblemsError, Problem
from svseg.datasets.target import ImportResult
from svseg.datasets.validate import ValidationReport, validate_dataset, validate_folder

__all__ = [
    "DatasetProblemsError",
    "ImportResult",
    "Problem",
    "ValidationReport",
    "import_dataset",
    "validate_dataset",
    "validate_folder",
]
