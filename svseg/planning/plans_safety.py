"""Plans are data: refuse any plans dict that would make nnU-Net import or run something by name.

nnU-Net turns several plans strings into code. ``pydoc.locate`` resolves the architecture's
``network_class_name`` and ``_kw_requires_import`` values and follows attribute chains, so
``torch.nn.functional.torch.os.system`` is ``os.system``. ``recursive_find_python_class`` resolves
``image_reader_writer``, ``label_manager``, ``experiment_planner_used``, each configuration's
``preprocessor_name``, ``normalization_schemes`` and ``resampling_fn_*`` by importing every module
of an nnunetv2 package and returning the first attribute of that name, whatever it is.

:func:`check_plans_are_data` is the one gate every place that hands a plans dict to nnU-Net calls
first: each of those names must be one that nnU-Net 2.8.1's planners (or svseg's) write, the
architecture block must match svseg's registry field by field
(:func:`svseg.networks.registry.check_architecture_block`), and the whole dict must be plain JSON.
Nothing is imported while checking; the first problem is one SvsegError line naming the file and
the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError
from svseg.io.dataset_json_safety import READER_WRITERS

# Exactly the names nnU-Net 2.8.1's planners write (and SvsegPlanner, svseg/planning/planner.py).
IMAGE_READER_WRITERS = READER_WRITERS
LABEL_MANAGERS = frozenset({"LabelManager"})
EXPERIMENT_PLANNERS = frozenset({
    "SvsegPlanner", "ExperimentPlanner", "ResEncUNetPlanner", "nnUNetPlannerResEncM", "nnUNetPlannerResEncL",
    "nnUNetPlannerResEncXL", "nnUNetPlannerResEncL_torchres", "nnUNetPlannerResEncL_torchres_sepz",
    "nnUNetPlanner_torchres", "nnUNetPlannerResEncL_noResampling",
})
PREPROCESSORS = frozenset({"DefaultPreprocessor"})
NORMALIZATION_SCHEMES = frozenset(
    {"ZScoreNormalization", "CTNormalization", "NoNormalization", "RescaleTo01Normalization", "RGBTo01Normalization"}
)
RESAMPLING_FUNCTIONS = frozenset({"resample_data_or_seg_to_shape", "resample_torch_fornnunet", "no_resampling_hack"})
RESAMPLING_KEYS = ("resampling_fn_data", "resampling_fn_seg", "resampling_fn_probabilities")
MAX_PLANS_DEPTH = 16
"""Nesting allowed in a whole plans file (an svseg plans file uses about 7)."""

_TOP_LEVEL_NAMES = {
    "image_reader_writer": IMAGE_READER_WRITERS,
    "label_manager": LABEL_MANAGERS,
    "experiment_planner_used": EXPERIMENT_PLANNERS,
}


def check_plans_are_data(plans: Any, path: Path | str) -> None:
    """Refuse `plans` (read from `path`) unless every name nnU-Net resolves from it is allow-listed.

    Call this before any plans dict reaches nnU-Net (PlansManager, get_network_from_plans, a
    trainer or predictor). Raises SvsegError ``"<path>: <field> ..."``; returns None when safe.
    """
    from svseg.networks.registry import check_plain_json

    if not isinstance(plans, dict):
        raise SvsegError(f"{path}: a plans file must hold a JSON object, got {type(plans).__name__}")
    check_plain_json(plans, f"{path}: plans", MAX_PLANS_DEPTH)
    for key, allowed in _TOP_LEVEL_NAMES.items():
        if key in plans:
            _check_name(plans[key], allowed, f"{path}: {key}")
    configurations = plans.get("configurations")
    if not isinstance(configurations, dict):
        raise SvsegError(f"{path}: 'configurations' must be an object of nnU-Net configurations")
    for name, configuration in configurations.items():
        _check_configuration(configuration, configurations, f"{path}: configurations[{name!r}]")


def _check_name(value: Any, allowed: frozenset[str], where: str) -> None:
    """`value` must be one of `allowed` exactly (nnU-Net finds it by importing modules and getattr)."""
    from svseg.networks.registry import short_repr

    if not (isinstance(value, str) and value in allowed):
        known = ", ".join(sorted(allowed))
        raise SvsegError(f"{where} = {short_repr(value)} is not one of {known}; refusing to look it up")


def _check_configuration(configuration: Any, configurations: Mapping[str, Any], where: str) -> None:
    """One configuration's by-name fields; an inheriting configuration lists only what it changes."""
    from svseg.networks.registry import check_architecture_block, short_repr

    if not isinstance(configuration, dict):
        raise SvsegError(f"{where} must be an object, got {type(configuration).__name__}")
    parent = configuration.get("inherits_from")
    if parent is not None and not (isinstance(parent, str) and parent in configurations):
        raise SvsegError(f"{where}.inherits_from = {short_repr(parent)} names no configuration of these plans")
    if "preprocessor_name" in configuration:
        _check_name(configuration["preprocessor_name"], PREPROCESSORS, f"{where}.preprocessor_name")
    if "normalization_schemes" in configuration:
        schemes = configuration["normalization_schemes"]
        if not isinstance(schemes, list):
            raise SvsegError(f"{where}.normalization_schemes must be a list of scheme names")
        for index, scheme in enumerate(schemes):
            _check_name(scheme, NORMALIZATION_SCHEMES, f"{where}.normalization_schemes[{index}]")
    for key in RESAMPLING_KEYS:
        if key in configuration:
            _check_name(configuration[key], RESAMPLING_FUNCTIONS, f"{where}.{key}")
        _check_flat_kwargs(configuration.get(f"{key}_kwargs"), f"{where}.{key}_kwargs")
    if "architecture" in configuration:
        check_architecture_block(configuration["architecture"], f"{where}.architecture")


def _check_flat_kwargs(kwargs: Any, where: str) -> None:
    """Keyword arguments nnU-Net binds to a function: absent, or an object of plain scalar values."""
    if kwargs is None:
        return
    if not isinstance(kwargs, dict):
        raise SvsegError(f"{where} must be an object of plain values")
    for key, value in kwargs.items():
        if isinstance(value, (list, dict)):
            raise SvsegError(f"{where}.{key}: only plain values (null, true/false, numbers, text) are allowed")
