"""Training and inference speed of L-SNet against nnU-Net's 2D U-Net on the same plan.

The plan is the one ``svseg demo`` makes: the embedded nuclei (60 RGB 256 x 256 PNGs, CC0),
imported as ``DemoNuclei`` with a 20 % test split and planned with preset ``cpu_quick``
(128 x 128 patches). Each network is added to that plan as ``svseg train --arch`` does.

For each network, in a fresh process with ``--threads`` torch threads (default 1):

- training: the median wall and CPU seconds of the trainer's ``train_step`` on one fixed batch
  from nnU-Net's loader (no data loading), after ``--warmup`` steps. For L-SNet that is
  ``LSNetTrainer``'s whole iteration: targets, the L-Net update and the joint update;
- inference (only with ``--models-home``, a data root holding models trained on that plan, e.g.
  by ``svseg compare``): ``svseg predict`` of the staged test images with the model's fold 0
  final checkpoint, no TTA; slices per second over reading, sliding window and writing, and the
  mean number of RoIs S-Net segmented per sliding-window tile. L-SNet's inference cost depends
  on how many objects its L-Net finds, so it is only meaningful for a trained model.

Usage:
    .venv/bin/python benchmarks/bench_lsnet.py --archs unet lsnet_tiny lsnet --iterations 10
    .venv/bin/python benchmarks/bench_lsnet.py --archs unet lsnet_tiny --models-home /tmp/lsd/home
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATASET = "DemoNuclei"


def prepare(home: Path) -> None:
    """Import and plan the embedded nuclei as ``svseg demo`` does."""
    from svseg.demo.data import prepare_demo_data
    from svseg.demo.stages import import_demo, plan_demo
    from svseg.paths import export_nnunet_environment

    os.environ["SVSEG_HOME"] = str(home)
    export_nnunet_environment()
    with contextlib.redirect_stdout(io.StringIO()):
        plan_demo(import_demo(prepare_demo_data("2d", home / "data")), os.cpu_count() or 1)


def measure_training(arch: str, batch_size: int, warmup: int, iterations: int) -> dict:
    """Median seconds of one training iteration on a fixed batch (runs in its own process)."""
    import torch

    from svseg.networks import count_parameters
    from svseg.paths import export_nnunet_environment, resolve_dataset
    from svseg.planning.plans import load_plans, plans_path
    from svseg.training.device import configure_workers
    from svseg.training.job import TrainingJob, build_trainer
    from svseg.training.run_plans import plans_for_run

    export_nnunet_environment()
    configure_workers(torch.device("cpu"))
    ref = resolve_dataset(DATASET)
    plans = load_plans(plans_path(ref.preprocessed_dir))
    dataset_json = json.loads((ref.preprocessed_dir / "dataset.json").read_text(encoding="utf-8"))
    recipe = plans.recipe.with_overrides(batch_size=batch_size, epochs=1, iters_per_epoch=warmup + iterations)
    raw, configuration = plans_for_run(plans, recipe, dataset_json, arch=arch)
    with contextlib.redirect_stdout(io.StringIO()):
        trainer = build_trainer(TrainingJob(raw, configuration, 0, dataset_json), torch.device("cpu"))
        trainer.on_train_start()
        trainer.on_train_epoch_start()
    fixed = next(trainer.dataloader_train)
    for _ in range(warmup):
        trainer.train_step(fixed)
    walls, cpus = [], []
    for batch in itertools.repeat(fixed, iterations):
        wall, cpu = time.perf_counter(), time.process_time()
        trainer.train_step(batch)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    trainer.stop_progress()
    return {
        "arch": arch,
        "trainer": type(trainer).__name__,
        "parameters_M": round(count_parameters(trainer.network) / 1e6, 2),
        "patch_size": list(trainer.configuration_manager.patch_size),
        "batch_size": batch_size,
        "train_s_per_it": round(statistics.median(walls), 3),
        "train_cpu_s_per_it": round(statistics.median(cpus), 3),
    }


def measure_inference(arch: str, out_dir: Path) -> dict:
    """svseg predict of the test images with the trained model of configuration 2d_<arch>."""
    from svseg.errors import SvsegError
    from svseg.inference.api import predict
    from svseg.networks.lsnet import model as lsnet_model
    from svseg.paths import resolve_dataset

    rois: list[int] = []
    detect = lsnet_model.detect_rois

    def counting(*args: object, **kwargs: object) -> object:
        found = detect(*args, **kwargs)
        rois.append(len(found))
        return found

    lsnet_model.detect_rois = counting
    images = resolve_dataset(DATASET).raw_dir / "imagesTs"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            result = predict(images, out_dir / arch, dataset=DATASET, arch=arch, device="cpu", tta=False,
                             overwrite=True)
    except SvsegError as exc:  # no trained model for this network
        return {"arch": arch, "skipped": str(exc)[:120]}
    return {
        "arch": arch,
        "slices": result.num_slices,
        "slices_per_s": round(result.num_slices / result.seconds_predicting, 3),
        "cpu_s_per_slice": round(result.cpu_seconds_predicting / result.num_slices, 3),
        "rois_per_tile": round(statistics.mean(rois), 1) if rois else None,
    }


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.child == "train":
        result = measure_training(args.arch, args.batch_size, args.warmup, args.iterations)
    else:
        result = measure_inference(args.arch, Path(tempfile.mkdtemp(prefix="svseg_bench_lsnet_")))
    result["torch_threads"] = torch.get_num_threads()
    print("RESULT " + json.dumps(result), flush=True)


def run_child(kind: str, arch: str, home: Path, args: argparse.Namespace) -> dict:
    env = {**os.environ, "SVSEG_HOME": str(home), "SVSEG_QUIET": "1", "OMP_NUM_THREADS": str(args.threads)}
    for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        env.pop(variable, None)
    command = [sys.executable, __file__, "--child", kind, "--arch", arch, "--batch-size", str(args.batch_size),
               "--warmup", str(args.warmup), "--iterations", str(args.iterations), "--threads", str(args.threads)]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(next(line[7:] for line in output.splitlines() if line.startswith("RESULT ")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["unet", "lsnet_tiny", "lsnet"])
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="a prepared data root (default: a new temp dir)")
    parser.add_argument("--models-home", type=Path, default=None, help="data root with trained models (inference)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--arch", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args)
        return

    home = args.models_home or args.workdir or Path(tempfile.mkdtemp(prefix="svseg_bench_lsnet_"))
    if not (home / "preprocessed").is_dir():
        start = time.perf_counter()
        prepare(home)
        print(f"prepared {home} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    training = [run_child("train", arch, home, args) for arch in args.archs]
    inference = [run_child("infer", arch, home, args) for arch in args.archs] if args.models_home else []
    inference = [r for r in inference if "skipped" not in r]

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, python {platform.python_version()}, {args.threads} torch thread(s)")
    print("| network | trainer | params (M) | patch | batch | train s/it | train CPU s/it |")
    print("|---|---|---:|---|---:|---:|---:|")
    for r in training:
        patch = "x".join(str(p) for p in r["patch_size"])
        print(f"| {r['arch']} | {r['trainer']} | {r['parameters_M']} | {patch} | {r['batch_size']} "
              f"| {r['train_s_per_it']} | {r['train_cpu_s_per_it']} |")
    if inference:
        print("\n| network | test slices | slices/s | CPU s/slice | RoIs per tile |")
        print("|---|---:|---:|---:|---:|")
        for r in inference:
            print(f"| {r['arch']} | {r['slices']} | {r['slices_per_s']} | {r['cpu_s_per_slice']} "
                  f"| {r['rois_per_tile'] if r['rois_per_tile'] is not None else '-'} |")
    print(json.dumps({"training": training, "inference": inference}, indent=2))


if __name__ == "__main__":
    main()
