"""A plans file can only make svseg build registered networks: anything else is refused before import."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from svseg.errors import SvsegError
from svseg.networks import architecture_block
from svseg.training.network_from_plans import build_network_from_plans


def _plans(block: dict[str, Any]) -> dict[str, Any]:
    """The smallest nnU-Net plans dict with one 2d configuration holding `block`."""
    return {
        "dataset_name": "Dataset001_X", "plans_name": "svsegPlans",
        "original_median_spacing_after_transp": [999.0, 1.0, 1.0],
        "original_median_shape_after_transp": [1, 64, 64],
        "image_reader_writer": "NaturalImage2DIO", "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
        "experiment_planner_used": "SvsegPlanner", "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {},
        "configurations": {"2d": {
            "data_identifier": "svsegPlans_2d", "preprocessor_name": "DefaultPreprocessor", "batch_size": 2,
            "patch_size": [64, 64], "median_image_size_in_voxels": [64, 64], "spacing": [1.0, 1.0],
            "normalization_schemes": ["ZScoreNormalization"], "use_mask_for_norm": [False],
            "resampling_fn_data": "resample_data_or_seg_to_shape", "resampling_fn_seg": "resample_data_or_seg_to_shape",
            "resampling_fn_data_kwargs": {}, "resampling_fn_seg_kwargs": {},
            "resampling_fn_probabilities": "resample_data_or_seg_to_shape", "resampling_fn_probabilities_kwargs": {},
            "batch_dice": True, "architecture": block,
        }},
    }


UNET = architecture_block("unet", [64, 64], [1.0, 1.0], 1, 2)


def test_a_registered_network_builds() -> None:
    network = build_network_from_plans(_plans(UNET), "2d", 1, 2, deep_supervision=False)
    assert sum(p.numel() for p in network.parameters()) > 0


@pytest.mark.parametrize("class_name", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_an_unregistered_class_is_refused(class_name: str) -> None:
    block = copy.deepcopy(UNET)
    block["network_class_name"] = class_name
    with pytest.raises(SvsegError, match="not a registered svseg architecture"):
        build_network_from_plans(_plans(block), "2d", 1, 2, deep_supervision=False)


def test_an_imported_kwarg_outside_torch_nn_is_refused() -> None:
    block = copy.deepcopy(UNET)
    block["arch_kwargs"]["nonlin"] = "builtins.eval"
    with pytest.raises(SvsegError, match="refusing to import it"):
        build_network_from_plans(_plans(block), "2d", 1, 2, deep_supervision=False)
