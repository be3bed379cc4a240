"""Prediction throughput and memory: svseg's predictor against nnU-Net's own, on the same model.

Speed: a 3D volume (default 64 slices of 256x256) is predicted file to file by
  * nnU-Net: ``nnUNetPredictor.predict_from_files_sequential`` (its reader, one tile per forward
    pass, float16 accumulators, whole-volume export), initialised with ``manual_initialization``;
  * svseg: ``svseg.inference.api.predict`` (svseg's reader, ``batch_size`` tiles per forward
    pass, chunked export), for each batch size given.
Both use the same plans, weights (seeded random; speed does not depend on them), step size 0.5,
Gaussian weighting, and TTA off (``--tta`` turns it on for both). The network is whatever nnU-Net's
planner chooses for 256x256 slices (its default 2D PlainConvUNet), or ``--arch NAME`` from
svseg's registry. Each run is a fresh process; the reported time excludes imports and model
loading and includes reading, preprocessing, prediction, export and writing. Runs alternate
between the contenders and the median of ``--repeats`` is reported, as wall time and as CPU
time of the process: on a machine shared with other work the wall time mostly measures the
neighbours, while the CPU time of a single-threaded run (``--threads 1``) stays comparable.

Memory (``--memory-slices N``, default 0 = skip): peak resident memory of each contender on a
512x512xN volume with three classes and a tiny network with 512x512 patches, so the figure is
dominated by the prediction buffers (nnU-Net: whole-volume logits and export; svseg: chunks of
slices). The baseline of a worker (torch + nnU-Net imported, model loaded) is printed with it.

Usage:
    .venv/bin/python benchmarks/bench_predict.py --slices 64 --size 256 --repeats 3 --batch-sizes 1 4 8
    .venv/bin/python benchmarks/bench_predict.py --memory-slices 200 --skip-speed
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _write_volume(path: Path, array: np.ndarray, spacing=(0.8, 0.8, 3.0)) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))


def _synthetic(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A CT-like volume (noise plus bright blocks) and its 3-class label."""
    rng = np.random.default_rng(seed)
    image = (rng.normal(0, 30, shape)).astype(np.int16)
    label = np.zeros(shape, np.uint8)
    _, y, x = shape
    label[:, y // 4 : y // 2, x // 4 : x // 2] = 1
    label[:, 2 * y // 3 : 2 * y // 3 + 6, 2 * x // 3 : 2 * x // 3 + 6] = 2
    image[label == 1] += 200
    image[label == 2] += 400
    return image, label


def plan_dataset(root: Path, size: int) -> tuple[dict, dict]:
    """Plan a small raw dataset of size x size slices with nnU-Net's API; returns plans and dataset.json."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
    )

    for kind in ("raw", "preprocessed", "results"):
        os.environ[f"nnUNet_{kind}"] = str(root / kind)
    folder = root / "raw" / "Dataset990_Bench"
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTr").mkdir(exist_ok=True)
    for index in range(4):
        image, label = _synthetic((8, size, size), index)
        _write_volume(folder / "imagesTr" / f"c{index}_0000.nii.gz", image)
        _write_volume(folder / "labelsTr" / f"c{index}.nii.gz", label)
    dataset = {
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "organ": 1, "lesion": 2},
        "numTraining": 4,
        "file_ending": ".nii.gz",
    }
    (folder / "dataset.json").write_text(json.dumps(dataset))
    with contextlib.redirect_stdout(io.StringIO()):
        extract_fingerprint_dataset(990, num_processes=1, verbose=False, show_progress_bar=False)
        plan_experiment_dataset(990, overwrite_plans_name="benchPlans")
    preprocessed = root / "preprocessed" / "Dataset990_Bench"
    return json.loads((preprocessed / "benchPlans.json").read_text(encoding="utf-8")), dataset


def make_model(root: Path, plans: dict, dataset: dict, arch: str | None, tiny: bool) -> Path:
    """A model folder (nnU-Net layout, fold 0, seeded random weights) for the 2d configuration."""
    import torch

    from svseg.training.network_from_plans import build_network_from_plans
    from svseg.utils.fs import atomic_torch_save

    plans = json.loads(json.dumps(plans))
    configuration = plans["configurations"]["2d"]
    plans["configurations"] = {"2d": configuration}
    if arch:
        from svseg.networks import architecture_block

        configuration["architecture"] = architecture_block(
            arch, configuration["patch_size"], configuration["spacing"], 1, len(dataset["labels"])
        )
    if tiny:  # memory runs: few features and one tile per 512x512 slice, so buffers dominate
        kwargs = configuration["architecture"]["arch_kwargs"]
        kwargs["features_per_stage"] = [min(4 * 2**i, 32) for i in range(kwargs["n_stages"])]
        configuration["patch_size"] = [512, 512]
    folder = root / "results" / "Dataset990_Bench" / f"BenchTrainer__benchPlans__2d{'_tiny' if tiny else ''}"
    (folder / "fold_0").mkdir(parents=True, exist_ok=True)
    (folder / "plans.json").write_text(json.dumps(plans))
    (folder / "dataset.json").write_text(json.dumps(dataset))
    torch.manual_seed(0)
    network = build_network_from_plans(plans, "2d", 1, len(dataset["labels"]), deep_supervision=False)
    atomic_torch_save(
        folder / "fold_0" / "checkpoint_final.pth",
        {
            "network_weights": network.state_dict(),
            "trainer_name": "BenchTrainer",
            "init_args": {"configuration": "2d"},
            "inference_allowed_mirroring_axes": (0, 1),
        },
    )
    return folder


def worker(spec: dict) -> dict:
    """One timed prediction in this (fresh) process; returns seconds and peak RSS."""
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from svseg.inference.api import predict
    from svseg.inference.model_loading import load_model

    torch.set_num_threads(spec["threads"])
    source, out = Path(spec["source"]), Path(spec["out"])
    baseline = _peak_rss_mb()  # both contenders import the same modules first
    if spec["who"] == "svseg":
        result = predict(
            [source],
            out,
            model_dir=Path(spec["model"]),
            device="cpu",
            tta=spec["tta"],
            overwrite=True,
            batch_size=spec["batch_size"],
        )
        seconds = result.seconds_predicting
        cpu_seconds = result.cpu_seconds_predicting
    else:
        model = load_model(Path(spec["model"]), None)
        with contextlib.redirect_stdout(io.StringIO()):
            predictor = nnUNetPredictor(
                tile_step_size=0.5,
                use_gaussian=True,
                use_mirroring=spec["tta"],
                perform_everything_on_device=False,
                device=torch.device("cpu"),
                allow_tqdm=False,
            )
            predictor.manual_initialization(
                model.network,
                model.plans_manager,
                model.configuration_manager,
                model.parameters,
                model.dataset_json,
                model.trainer_name,
                model.mirroring_axes,
            )
            out.mkdir(parents=True, exist_ok=True)
            started, cpu_started = time.perf_counter(), time.process_time()
            predictor.predict_from_files_sequential([[str(source)]], [str(out / "case")], overwrite=True)
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": _peak_rss_mb(),
            "baseline_rss_mb": baseline}


def _peak_rss_mb() -> float:
    """This process's resident-memory high-water mark.

    Read from /proc (VmHWM) where it exists: getrusage's ru_maxrss survives exec on Linux and
    would report the parent's peak (the benchmark driver) for a freshly started worker.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(spec: dict) -> dict:
    env = dict(os.environ, SVSEG_QUIET="1", PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def speed(root: Path, args: argparse.Namespace) -> None:
    plans, dataset = plan_dataset(root, args.size)
    model = make_model(root, plans, dataset, args.arch, tiny=False)
    image, _ = _synthetic((args.slices, args.size, args.size), 99)
    source = root / "volume.nii.gz"
    _write_volume(source, image)
    contenders = [("nnunet", None)] + [("svseg", b) for b in args.batch_sizes]
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for who, batch in contenders:
            name = who if batch is None else f"svseg batch {batch}"
            spec = {"who": who, "batch_size": batch, "tta": args.tta, "model": str(model), "source": str(source),
                    "out": str(root / f"out_{who}_{batch}"), "threads": args.threads}
            result = run_worker(spec)
            wall.setdefault(name, []).append(result["seconds"])
            cpu.setdefault(name, []).append(result["cpu_seconds"])
    patch = plans["configurations"]["2d"]["patch_size"]
    print(f"\n## speed: {args.slices} slices of {args.size}x{args.size}, patch {patch}, network "
          f"{args.arch or 'nnU-Net default PlainConvUNet'}, TTA {'on' if args.tta else 'off'}, "
          f"{args.threads} torch thread(s), median of {args.repeats}, load average now {os.getloadavg()[0]:.1f}")
    print("| predictor | wall s (runs) | slices/s | wall vs nnU-Net | CPU s (runs) | CPU vs nnU-Net |")
    print("|---|---|---|---|---|---|")
    wall_ref, cpu_ref = statistics.median(wall["nnunet"]), statistics.median(cpu["nnunet"])
    for name in wall:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"| {name} | {w:.1f} ({', '.join(f'{v:.1f}' for v in wall[name])}) | {args.slices / w:.2f} | "
              f"{wall_ref / w:.2f}x | {c:.1f} ({', '.join(f'{v:.1f}' for v in cpu[name])}) | {cpu_ref / c:.2f}x |")


def memory(root: Path, args: argparse.Namespace) -> None:
    plans_path = root / "preprocessed" / "Dataset990_Bench" / "benchPlans.json"
    if plans_path.is_file():
        plans, dataset = (
            json.loads(plans_path.read_text(encoding="utf-8")),
            json.loads((root / "raw" / "Dataset990_Bench" / "dataset.json").read_text(encoding="utf-8")),
        )
    else:
        plans, dataset = plan_dataset(root, args.size)
    model = make_model(root, plans, dataset, None, tiny=True)
    image, _ = _synthetic((args.memory_slices, 512, 512), 7)
    source = root / "big.nii.gz"
    _write_volume(source, image)
    print(
        f"\n## memory: 512x512x{args.memory_slices} int16 volume "
        f"({image.nbytes / 2**20:.0f} MiB on disk, {image.size * 4 / 2**20:.0f} MiB as float32), "
        f"3 classes, tiny network, TTA off"
    )
    print("| predictor | seconds | peak RSS (MiB) | after imports (MiB) |")
    print("|---|---|---|---|")
    for who in ("nnunet", "svseg"):
        spec = {
            "who": who,
            "batch_size": None,
            "tta": False,
            "model": str(model),
            "source": str(source),
            "out": str(root / f"big_{who}"),
            "threads": args.threads,
        }
        result = run_worker(spec)
        print(f"| {who} | {result['seconds']:.1f} | {result['peak_rss_mb']:.0f} | {result['baseline_rss_mb']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--tta", action="store_true")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads per run (1 gives CPU times that survive a busy machine)")
    parser.add_argument("--arch", default=None, help="a registered svseg network instead of nnU-Net's default")
    parser.add_argument("--memory-slices", type=int, default=0)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}; date {time.strftime('%Y-%m-%d')}"
    )
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        if not args.skip_speed:
            speed(root, args)
        if args.memory_slices:
            memory(root, args)


if __name__ == "__main__":
    main()
