"""The steps bench_accuracy.py runs in fresh processes: import, plan, time, and train + predict + evaluate.

Why processes: nnU-Net reads its three folder variables when it is first imported, and every
plan and run has its own folders; a fresh process per step also gives each timing and each
training its own memory and thread settings. Each step writes its result file atomically as its
last act, so a killed step leaves nothing that looks finished.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

from svseg.utils.fs import atomic_write_json

IMPORTED_NAME = {"data": "BenchAccuracy", "synthetic3d": "BenchSynthetic3d"}


def fix_threads(threads: int) -> None:
    """Every torch computation of this process on `threads` threads, also inside svseg's training.

    ``svseg train`` gives torch every core on a CPU (nnU-Net's choice); on a machine whose cores
    other work shares, two threads waiting at OpenMP barriers make single iterations vary many
    fold, so the benchmark pins the count through ``OMP_NUM_THREADS``, which svseg's training honours.
    """
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def import_step(payload: dict[str, Any]) -> None:
    """Import the folder (or the generated synthetic volumes) with the fixed split's test fraction."""
    from svseg.datasets import import_dataset

    out = Path(payload["out"])
    labels = payload["labels"]
    if payload["synthetic3d"]:
        from svseg.demo.synthetic3d import LABELS, SyntheticSpec, write_synthetic_dataset

        source = write_synthetic_dataset(out / "source3d", SyntheticSpec(num_cases=payload["synthetic3d"])).root
        name, labels = IMPORTED_NAME["synthetic3d"], labels or ",".join(LABELS)
    else:
        source, name = Path(payload["data"]), IMPORTED_NAME["data"]
    with contextlib.redirect_stdout(io.StringIO()):
        import_dataset(source, name, label_names=labels, test_fraction=payload["test_fraction"])


def plan_step(payload: dict[str, Any]) -> None:
    """Plan and preprocess; the summary records the decisions and a signature of everything training reads."""
    from svseg.planning.api import plan_and_preprocess

    result = plan_and_preprocess(payload["dataset"], preset=payload["preset"], num_processes=payload["processes"],
                                 amplification=payload["amplification"])
    plans = json.loads(result.plans.path.read_text(encoding="utf-8"))
    section = plans["svseg"]
    configuration = plans["configurations"][section["configuration"]]
    signature = {"configuration": configuration, "recipe": section["recipe"], "network": section["network"],
                 "amplification": section.get("amplification")}
    atomic_write_json(Path(payload["summary"]), {
        "decisions": [{"what": d["what"], "value": d["value"]} for d in section["decisions"]],
        "patch_size": configuration["patch_size"], "batch_size": configuration["batch_size"],
        "spacing": configuration["spacing"], "network": section["network"], "recipe": section["recipe"],
        "amplification": section.get("amplification", {}).get("mode", "off"), "signature": signature})


def speed_step(payload: dict[str, Any]) -> None:
    """Seconds per iteration of nnU-Net's training loop for one configuration (one round of the timing).

    After ``warmup`` iterations, ``iterations`` more are timed: the process's CPU seconds on a CPU
    (with one thread, what the iteration costs whatever else runs), wall seconds after
    synchronising on CUDA. Each iteration is the loop's: an augmented batch, forward, loss, backward, step.
    """
    import torch

    from svseg.paths import export_nnunet_environment, resolve_dataset
    from svseg.planning.plans import load_plans, plans_path
    from svseg.training.device import configure_workers, resolve_device
    from svseg.training.job import TrainingJob, build_trainer
    from svseg.training.run_plans import plans_for_run

    export_nnunet_environment()
    device = resolve_device(payload["device"])
    configure_workers(device)
    torch.set_num_threads(payload["threads"])
    ref = resolve_dataset(payload["dataset"])
    plans = load_plans(plans_path(ref.preprocessed_dir))
    dataset_json = json.loads((ref.preprocessed_dir / "dataset.json").read_text(encoding="utf-8"))
    total = payload["warmup"] + payload["iterations"]
    recipe = plans.recipe.with_overrides(epochs=1, iters_per_epoch=total)
    raw, configuration = plans_for_run(plans, recipe, dataset_json, arch=payload["arch"])
    with contextlib.redirect_stdout(io.StringIO()):
        trainer = build_trainer(TrainingJob(raw, configuration, 0, dataset_json), device)
        trainer.on_train_start()
        trainer.on_train_epoch_start()
    for _ in range(payload["warmup"]):
        trainer.train_step(next(trainer.dataloader_train))
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(payload["iterations"]):
        trainer.train_step(next(trainer.dataloader_train))
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall_s = (time.perf_counter() - wall) / payload["iterations"]
    cpu_s = (time.process_time() - cpu) / payload["iterations"]
    atomic_write_json(Path(payload["result"]), {
        "network": payload["arch"] or plans.network.name, "patch_size": list(trainer.configuration_manager.patch_size),
        "batch_size": trainer.configuration_manager.batch_size, "wall_seconds_per_iteration": wall_s,
        "seconds_per_iteration": cpu_s if device.type == "cpu" else wall_s,
        "measure": "process CPU s" if device.type == "cpu" else "wall s",
        "threads": torch.get_num_threads(), "device": device.type, "load_average": os.getloadavg()[0]})


def run_step(payload: dict[str, Any]) -> None:
    """Train one fold (unless its final checkpoint exists), predict its held-out cases, evaluate them."""
    from svseg.evaluation.api import dataset_labels, evaluate_folders
    from svseg.inference.api import predict
    from svseg.paths import export_nnunet_environment, resolve_dataset, results_root
    from svseg.planning.plans import load_plans, plans_path
    from svseg.training.api import train

    export_nnunet_environment()
    out = Path(payload["out"])
    ref = resolve_dataset(payload["dataset"])
    finished = list((results_root() / ref.folder_name).glob(f"*/fold_{payload['fold']}/checkpoint_final.pth"))
    timing: dict[str, Any] = {}
    if not finished:
        wall, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        train(ref.folder_name, payload["fold"], arch=payload["arch"], epochs=payload["epochs"],
              iters_per_epoch=payload["iters_per_epoch"], device=payload["device"], overwrite=True)
        after = resource.getrusage(resource.RUSAGE_SELF)
        timing = {"train_wall_s": time.perf_counter() - wall,
                  "train_cpu_s": after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime}
    predicted = predict(Path(payload["images"]), out / "predictions", dataset=ref.folder_name,
                        arch=payload["arch"], folds=[str(payload["fold"])], device=payload["device"], tta=False,
                        overwrite=True)
    strata = load_plans(plans_path(ref.preprocessed_dir)).strata
    evaluation = evaluate_folders(out / "predictions", Path(payload["labels"]), out / "evaluation",
                                  labels=dataset_labels(ref.folder_name),
                                  thresholds=(strata["ultra_small"], strata["small"]), plots=False)
    atomic_write_json(out / "run.json", {**payload, **timing, "model_dir": str(predicted.model_dir),
                                         "predict_s": predicted.seconds_predicting,
                                         "metrics": str(evaluation.metrics_path)})


STEPS = {"import": import_step, "plan": plan_step, "speed": speed_step, "run": run_step}


def run(kind: str, payload: dict[str, Any]) -> None:
    """Run step `kind`; threads are fixed first for the steps that compute."""
    if kind in ("speed", "run") and payload.get("device", "cpu") == "cpu":
        fix_threads(int(payload["threads"]))
    STEPS[kind](payload)
