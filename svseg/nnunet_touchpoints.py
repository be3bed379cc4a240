"""Every place svseg touches nnU-Net's internals, named once and checked against the installed nnU-Net.

svseg runs on nnU-Net 2.8.1 (docs/design/nnunet-integration.md). Beyond its stable public
functions, svseg relies on things nnU-Net does not promise to keep: the environment variables it
reads and *when* it reads them, private methods svseg overrides or calls, private attributes of
its trainer, the argument list of hooks svseg overrides, and its 5-fold split. Each of them is
named here, and the code reaches nnU-Net through these names:

- the variables (:data:`PATH_VARIABLES`, :data:`COMPILE_VARIABLE`...) are set and read by
  :mod:`svseg.paths` and :mod:`svseg.training.device` under these names;
- the split (:data:`NNUNET_FOLDS`, :data:`SPLIT_SEED`, :data:`SPLITS_FILE`) is what the import,
  planning and training stages reproduce or check;
- :func:`plans_manager` is the one place plans become nnU-Net's ``PlansManager``, and
  :func:`sample_foreground_locations` the one call of the preprocessor's private sampler;
- :func:`check_overrides` is applied to every svseg subclass of an nnU-Net class: it refuses,
  when the class is defined, an override whose nnU-Net method is gone or takes other arguments,
  so a changed nnU-Net stops svseg at import instead of silently skipping svseg's code.

``tests/test_nnunet_touchpoints.py`` checks each name against the installed nnU-Net (signatures,
attributes, module paths, when a variable is read), so a new nnU-Net release that changes one
fails there with the touch point named. ``pyproject.toml`` pins nnunetv2 to
:data:`TESTED_NNUNET_VERSIONS`. This module imports nothing from nnU-Net at import time (``svseg
--help`` stays fast); it sits among the foundations, below every stage.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

#: nnU-Net releases the touch-point tests have passed on (pyproject.toml pins nnunetv2 to them).
TESTED_NNUNET_VERSIONS = ("2.8.1",)

# -- environment variables ------------------------------------------------------------------------

#: nnU-Net's three data folders. 2.8.1 resolves them each time a path is used (nnunetv2/paths.py
#: wraps them in lazy objects), which is what lets svseg set them after nnU-Net is imported.
PATH_VARIABLES = {"raw": "nnUNet_raw", "preprocessed": "nnUNet_preprocessed", "results": "nnUNet_results"}
#: Read by ``nnUNetTrainer._do_i_compile`` when the trainer is initialised ("t"/"f").
COMPILE_VARIABLE = "nnUNet_compile"
#: Read by ``get_allowed_n_proc_DA()`` whenever data loaders are built: augmentation processes.
AUGMENTATION_PROCESSES_VARIABLE = "nnUNet_n_proc_DA"
#: Read once, when ``nnunetv2.configuration`` is first imported: the size of nnU-Net's pools.
DEFAULT_PROCESSES_VARIABLE = "nnUNet_def_n_proc"
#: Folders nnU-Net's trainer lookup (``nnUNetv2_train -tr``, ``nnUNetv2_predict``) also scans.
EXT_TRAINER_VARIABLE = "nnUNet_extTrainer"

# -- the split into folds -------------------------------------------------------------------------

#: ``nnUNetTrainer.do_split``: 5 folds of the sorted case ids, seed 12345, saved to splits_final.json.
NNUNET_FOLDS = 5
SPLIT_SEED = 12345
SPLITS_FILE = "splits_final.json"

# -- names and argument lists svseg relies on -----------------------------------------------------

TRAINER = "nnunetv2.training.nnUNetTrainer.nnUNetTrainer:nnUNetTrainer"
PREDICTOR = "nnunetv2.inference.predict_from_raw_data:nnUNetPredictor"
PLANNER = "nnunetv2.experiment_planning.experiment_planners.default_experiment_planner:ExperimentPlanner"
FINGERPRINT_EXTRACTOR = ("nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor:"
                         "DatasetFingerprintExtractor")
PREPROCESSOR = "nnunetv2.preprocessing.preprocessors.default_preprocessor:DefaultPreprocessor"
PLANS_MANAGER = "nnunetv2.utilities.plans_handling.plans_handler:PlansManager"
#: How nnU-Net's own commands find a trainer by name (its package, then the EXT_TRAINER_VARIABLE folders).
TRAINER_LOOKUP = "nnunetv2.utilities.find_objects:recursive_find_trainer_class_by_name"


@dataclass(frozen=True)
class Method:
    """A method of an nnU-Net class svseg overrides or calls, with the parameter names it relies on."""

    owner: str
    name: str
    parameters: tuple[str, ...]
    why: str

    @property
    def private(self) -> bool:
        """A name nnU-Net may change without notice."""
        return self.name.startswith("_") and not self.name.startswith("__")


METHODS: tuple[Method, ...] = (
    Method(PREDICTOR, "_internal_predict_sliding_window_return_logits", ("self", "data", "slicers", "do_on_device"),
           "overridden by SvsegPredictor to run several tiles per forward pass"),
    Method(PREDICTOR, "_internal_maybe_mirror_and_predict", ("self", "x"),
           "called by SvsegPredictor on each batch of tiles (mirroring as nnU-Net does it)"),
    Method(PREDICTOR, "manual_initialization",
           ("self", "network", "plans_manager", "configuration_manager", "parameters", "dataset_json",
            "trainer_name", "inference_allowed_mirroring_axes"),
           "svseg hands the predictor its network, so nnU-Net never looks a trainer up by name"),
    Method(TRAINER, "__init__", ("self", "plans", "configuration", "fold", "dataset_json", "device"),
           "checkpoints store these five arguments and nnU-Net's tools re-create trainers from them"),
    Method(TRAINER, "_build_loss", ("self",), "SvsegTrainer turns nnU-Net's loss into the recipe's"),
    Method(TRAINER, "_do_i_compile", ("self",), "LSNetTrainer switches torch.compile off"),
    Method(TRAINER, "_set_batch_size_and_oversample", ("self",),
           "redone by svseg's DDP initialisation after hiding is_ddp from nnU-Net's"),
    Method(TRAINER, "initialize", ("self",), "svseg's DDP wrap replaces nnU-Net's CUDA-only one"),
    Method(TRAINER, "on_train_start", ("self",), "only the main process writes into the model folder"),
    Method(TRAINER, "on_train_end", ("self",), "SVSEG_DDP_TRACE writes each rank's trace"),
    Method(TRAINER, "train_step", ("self", "batch"), "progress bar, DDP trace, L-SNet's two updates"),
    Method(TRAINER, "on_epoch_end", ("self",), "one line per epoch, svseg's progress plot"),
    Method(TRAINER, "print_to_log_file", ("self", "args", "also_print_to_console", "add_timestamp"),
           "nnU-Net's console echo goes to svseg's log"),
    Method(TRAINER, "save_checkpoint", ("self", "filename"), "atomic, weights-only-readable checkpoints"),
    Method(TRAINER, "load_checkpoint", ("self", "filename_or_checkpoint"), "weights-only resume"),
    Method(TRAINER, "get_tr_and_val_datasets", ("self",), "STS-Net amplification wraps the training dataset"),
    Method(TRAINER, "build_network_architecture",
           ("plans_manager", "configuration_manager", "num_input_channels", "num_output_channels",
            "enable_deep_supervision"),
           "a static method nnU-Net's predictor also calls: networks come from svseg's registry"),
    Method(TRAINER, "set_deep_supervision_enabled", ("self", "enabled"), "networks without deep supervision"),
    Method(TRAINER, "configure_optimizers", ("self",), "the recipe's optimizer and schedule"),
    Method(TRAINER, "perform_actual_validation", ("self", "save_probabilities"),
           "the final validation runs on the main process alone under DDP"),
    Method(TRAINER, "do_split", ("self",), "the main process writes splits_final.json before the other ranks"),
    Method(PLANNER, "get_plans_for_configuration",
           ("self", "spacing", "median_shape", "data_identifier", "approximate_n_voxels_dataset", "_cache"),
           "SvsegPlanner sets patch, batch and network after nnU-Net sized its U-Net (the private _cache argument)"),
    Method(PLANNER, "determine_fullres_target_spacing", ("self",), "finer in-plane spacing for small objects"),
    Method(PLANNER, "save_plans", ("self", "plans"), "the svseg section, 3D configurations dropped, atomic write"),
    Method(FINGERPRINT_EXTRACTOR, "run", ("self", "overwrite_existing"), "per-slice object statistics added"),
    Method(PREPROCESSOR, "_sample_foreground_locations",
           ("seg", "classes_or_regions", "seed", "verbose", "min_num_samples", "min_percent_coverage"),
           "amplified sampling recomputes foreground locations after a crop"),
)

#: Private attributes of nnU-Net's trainer, set in its ``__init__``, that svseg reads or writes.
TRAINER_PRIVATE_ATTRIBUTES = ("_best_ema",)


class NnunetChanged(RuntimeError):
    """The installed nnU-Net no longer has a name or argument list svseg relies on (a bug, not bad input)."""


def resolve(path: str) -> Any:
    """The object at ``module:attribute`` (imports nnU-Net's module)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def parameter_names(function: Any) -> tuple[str, ...]:
    """The parameter names of `function` in order (``*args`` as ``args``)."""
    return tuple(inspect.signature(function).parameters)


def method_problem(method: Method) -> str | None:
    """Why nnU-Net's side of `method` no longer matches (None when it does)."""
    owner = resolve(method.owner)
    found = inspect.getattr_static(owner, method.name, None)
    if found is None:
        return f"{method.owner}.{method.name} is gone ({method.why})"
    names = parameter_names(getattr(owner, method.name))
    if names != method.parameters:
        return (f"{method.owner}.{method.name} now takes {names}, svseg relies on {method.parameters} "
                f"({method.why})")
    return None


def check_overrides(cls: type) -> type:
    """Class decorator: every :data:`METHODS` entry `cls` overrides (itself or in its svseg mixins) must
    match nnU-Net's, on both sides.

    Raises :class:`NnunetChanged` when the class is defined, naming the method, so a changed nnU-Net
    cannot silently stop calling svseg's override. Returns `cls` unchanged.
    """
    own_classes = [klass for klass in cls.__mro__
                   if klass is not object and not klass.__module__.startswith("nnunetv2.")]
    for method in METHODS:
        defining = next((klass for klass in own_classes if method.name in vars(klass)), None)
        if defining is None or not issubclass(cls, resolve(method.owner)):
            continue
        problem = method_problem(method)
        own = parameter_names(getattr(defining, method.name))
        if problem is None and own != method.parameters:
            problem = f"{cls.__name__}.{method.name} takes {own}, nnU-Net calls it with {method.parameters}"
        if problem is not None:
            raise NnunetChanged(f"{cls.__name__}: {problem}; svseg is tested with nnU-Net "
                                f"{', '.join(TESTED_NNUNET_VERSIONS)}")
    return cls


def plans_manager(plans: dict[str, Any]) -> Any:
    """nnU-Net's ``PlansManager`` over a plans dict (configurations, label manager, reader class)."""
    return resolve(PLANS_MANAGER)(plans)


def sample_foreground_locations(seg: Any, classes: list[int], seed: int) -> dict[Any, Any]:
    """nnU-Net's foreground locations of `seg` (C, Z, Y, X) per class, as its preprocessor stores them.

    Private in nnU-Net (``DefaultPreprocessor._sample_foreground_locations``); amplified sampling
    needs them for a crop nnU-Net never saw, in the format nnU-Net's loader reads.
    """
    sampler = resolve(PREPROCESSOR)._sample_foreground_locations
    return sampler(seg, classes, seed=seed)
