"""The session's planned datasets (see models.py for what they hold)."""

from __future__ import annotations

import json

import pytest

from .models import NIFTI_ID, PNG_ID, write_nifti_dataset, write_png_dataset


@pytest.fixture(scope="session")
def planned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, dict]]:
    """nnU-Net plans and dataset.json of the two tiny datasets, keyed ``png`` and ``nifti``."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
    )

    from svseg.paths import export_nnunet_environment

    home = tmp_path_factory.mktemp("planning_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SVSEG_HOME", str(home))
        for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
            patch.setenv(variable, "")  # recorded, so leaving the context restores the user's value
            patch.delenv(variable)
        export_nnunet_environment()
        write_png_dataset(home / "raw")
        write_nifti_dataset(home / "raw")
        result = {}
        for key, dataset_id in (("png", PNG_ID), ("nifti", NIFTI_ID)):
            extract_fingerprint_dataset(dataset_id, num_processes=1, verbose=False, show_progress_bar=False)
            plans, _ = plan_experiment_dataset(dataset_id, overwrite_plans_name="svsegPlans")
            folder = next((home / "preprocessed").glob(f"Dataset{dataset_id:03d}_*"))
            plans = json.loads((folder / "svsegPlans.json").read_text(encoding="utf-8"))
            result[key] = (plans, json.loads((folder / "dataset.json").read_text(encoding="utf-8")))
    return result


