"""The trainer's composition as SvsegTrainer's docstring tables it: which class answers each nnU-Net hook.

A reader should see what runs in a training step without tracing the classes; this keeps that
table true. A new mixin or override changes the computed map and fails here until the table (and
this test) say where the hook went. Only ``train_step`` may be answered by several classes, and
each of them calls through to the next, down to nnU-Net's step (L-SNet's, last, replaces it).
"""

from __future__ import annotations

import inspect

from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from svseg.training.lsnet_trainer import LSNetTrainer
from svseg.training.trainer import SvsegTrainer

SVSEG_HOOKS = {
    "initialize": ["DistributedSetupHooks"],
    "build_network_architecture": ["RegistryNetworkHooks"],
    "set_deep_supervision_enabled": ["RegistryNetworkHooks"],
    "configure_optimizers": ["SvsegTrainer"],
    "_build_loss": ["SvsegTrainer"],
    "get_tr_and_val_datasets": ["AmplifiedSamplingHooks"],
    "on_train_start": ["MainProcessWriteHooks"],
    "train_step": ["EpochProgressHooks", "DistributedTraceHooks"],
    "print_to_log_file": ["EpochProgressHooks"],
    "on_epoch_end": ["EpochProgressHooks"],
    "save_checkpoint": ["AtomicCheckpointHooks"],
    "load_checkpoint": ["AtomicCheckpointHooks"],
    "perform_actual_validation": ["MainProcessWriteHooks"],
    "on_train_end": ["DistributedTraceHooks"],
}
LSNET_HOOKS = {**SVSEG_HOOKS, "train_step": [*SVSEG_HOOKS["train_step"], "LSNetStepHooks"],
               "_do_i_compile": ["LSNetStepHooks"]}


def hook_owners(cls: type) -> dict[str, list[str]]:
    """For each nnU-Net trainer method `cls` overrides, svseg's classes defining it, in call order (MRO)."""
    owners: dict[str, list[str]] = {}
    for klass in cls.__mro__:
        if klass is object or klass.__module__.startswith("nnunetv2."):
            continue
        for name in vars(klass):
            if name != "__init__" and hasattr(nnUNetTrainer, name) and callable(getattr(nnUNetTrainer, name)):
                owners.setdefault(name, []).append(klass.__name__)
    return owners


def test_svseg_trainer_hooks_are_where_the_docstring_says() -> None:
    assert hook_owners(SvsegTrainer) == SVSEG_HOOKS
    doc = inspect.getmodule(SvsegTrainer).__doc__ or ""
    for hook in LSNET_HOOKS:
        assert f"``{hook}``" in doc, f"{hook} missing from trainer.py's table"


def test_lsnet_trainer_adds_only_its_step_and_compile_switch() -> None:
    assert hook_owners(LSNetTrainer) == LSNET_HOOKS


def test_every_train_step_wrapper_calls_through() -> None:
    for klass in LSNetTrainer.__mro__:
        step = vars(klass).get("train_step")
        if step is None or klass.__module__.startswith("nnunetv2.") or klass.__name__ == "LSNetStepHooks":
            continue  # LSNetStepHooks is L-SNet's own two-update step, in place of nnU-Net's
        source = inspect.getsource(step)
        assert "super().train_step(" in source or "nnUNetTrainer.train_step(" in source, klass.__name__
