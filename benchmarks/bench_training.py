"""Training speed and memory of svseg's trainer: SvANet (``svanet_tiny``) and nnU-Net's 2D U-Net.

Both networks train on the same plan: the embedded nuclei images (60 RGB 256 x 256 PNGs, CC0)
are imported and planned by svseg with ``--preset`` (default ``svanet_paper``: the patch is the
whole 256 x 256 slice), then each network is added to that plan as ``svseg train --arch`` does
(configurations ``2d_svanet_tiny`` and ``2d_unet``, same patch, same preprocessed data) and
trained by :class:`svseg.training.trainer.SvsegTrainer` with the same batch size.

For each network, in a fresh process (so the peak memory is its own):

- loop: iterations per second of nnU-Net's training loop body (next batch from the augmenting
  data loader + ``train_step``: forward, loss, backward, gradient clipping, optimizer step), after
  ``--warmup`` iterations; each iteration is timed and the median is reported, as wall time and
  as the process's CPU time, because on a machine shared with other work single iterations
  (and the wall time) mostly measure the neighbours;
- step: the same with one fixed batch (no data loading): the network's own cost;
- peak memory: the process's peak resident set (CPU), or torch's peak allocated memory (CUDA).

Usage:
    .venv/bin/python benchmarks/bench_training.py --device cpu --iterations 10 --batch-size 2
    .venv/bin/python benchmarks/bench_training.py --device cuda --iterations 50 --batch-size 8
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DATASET = "BenchNuclei"


def prepare(home: Path, preset: str) -> None:
    """Import the embedded nuclei images and plan them with svseg (output of nnU-Net silenced)."""
    from svseg.datasets import import_dataset
    from svseg.demo.data import prepare_demo_data
    from svseg.paths import export_nnunet_environment
    from svseg.planning.api import plan_and_preprocess

    os.environ["SVSEG_HOME"] = str(home)
    export_nnunet_environment()
    data = prepare_demo_data("2d", home / "data")
    with contextlib.redirect_stdout(io.StringIO()):
        import_dataset(data.root, DATASET, label_names=["nucleus"])
        plan_and_preprocess(DATASET, preset=preset, num_processes=os.cpu_count() or 1)


def _resident_bytes() -> int:
    """Current resident memory of this process (Linux), 0 where /proc is missing."""
    status = Path("/proc/self/status")
    if not status.is_file():
        return 0
    line = next(line for line in status.read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def measure(arch: str, device_name: str, batch_size: int, warmup: int, iterations: int, threads: int) -> dict:
    """Time the trainer's iterations for one network (runs in its own process)."""
    import torch

    from svseg.networks import count_parameters
    from svseg.paths import export_nnunet_environment, resolve_dataset
    from svseg.planning.plans import load_plans, plans_path
    from svseg.training.device import configure_threads, configure_workers, resolve_device
    from svseg.training.job import TrainingJob, build_trainer
    from svseg.training.run_plans import plans_for_run

    export_nnunet_environment()
    baseline = _resident_bytes()
    device = resolve_device(device_name)
    configure_workers(device)
    configure_threads(device)
    if threads:
        torch.set_num_threads(threads)
    ref = resolve_dataset(DATASET)
    plans = load_plans(plans_path(ref.preprocessed_dir))
    dataset_json = json.loads((ref.preprocessed_dir / "dataset.json").read_text(encoding="utf-8"))
    recipe = plans.recipe.with_overrides(batch_size=batch_size, epochs=1, iters_per_epoch=warmup + iterations)
    raw, configuration = plans_for_run(plans, recipe, dataset_json, arch=arch)
    with contextlib.redirect_stdout(io.StringIO()):
        trainer = build_trainer(TrainingJob(raw, configuration, 0, dataset_json), device)
        trainer.on_train_start()
        trainer.on_train_epoch_start()

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed(batches: Iterator[dict]) -> tuple[float, float]:
        """Median wall and CPU seconds of one iteration (medians: robust to a busy neighbour)."""
        walls, cpus = [], []
        for _ in range(iterations):
            wall, cpu = time.perf_counter(), time.process_time()
            trainer.train_step(next(batches))
            synchronize()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        return statistics.median(walls), statistics.median(cpus)

    for _ in range(warmup):
        trainer.train_step(next(trainer.dataloader_train))
    synchronize()
    loop_wall, loop_cpu = timed(trainer.dataloader_train)
    fixed = next(trainer.dataloader_train)
    step_wall, step_cpu = timed(itertools.repeat(fixed))
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {
        "arch": arch,
        "configuration": configuration,
        "parameters_M": round(count_parameters(trainer.network) / 1e6, 2),
        "patch_size": list(trainer.configuration_manager.patch_size),
        "batch_size": batch_size,
        "deep_supervision": trainer.enable_deep_supervision,
        "loop_it_per_s": round(1 / loop_wall, 3),
        "loop_cpu_s_per_it": round(loop_cpu, 3),
        "step_it_per_s": round(1 / step_wall, 3),
        "step_cpu_s_per_it": round(step_cpu, 3),
        "peak_memory_GB": round(peak / 1e9, 2),
        "peak_memory_kind": "CUDA allocated" if device.type == "cuda" else "process RSS",
        "baseline_rss_GB": round(baseline / 1e9, 2),
        "device": device.type,
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="auto | cuda | cpu | mps")
    parser.add_argument("--archs", nargs="+", default=["svanet_tiny", "unet"])
    parser.add_argument("--preset", default="svanet_paper")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: svseg's choice)")
    parser.add_argument("--workdir", type=Path, default=None, help="reuse a prepared folder (default: a new temp dir)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:
        result = measure(args.child, args.device, args.batch_size, args.warmup, args.iterations, args.threads)
        print("RESULT " + json.dumps(result), flush=True)
        return

    home = args.workdir or Path(tempfile.mkdtemp(prefix="svseg_bench_training_"))
    if not (home / "preprocessed").is_dir():
        start = time.perf_counter()
        prepare(home, args.preset)
        print(f"prepared {home} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    env = {**os.environ, "SVSEG_HOME": str(home), "SVSEG_QUIET": "1"}
    for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        env.pop(variable, None)
    results = []
    for arch in args.archs:
        command = [sys.executable, __file__, "--child", arch, "--device", args.device,
                   "--batch-size", str(args.batch_size), "--warmup", str(args.warmup),
                   "--iterations", str(args.iterations), "--threads", str(args.threads)]
        output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(next(line[7:] for line in output.splitlines() if line.startswith("RESULT "))))

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, python {platform.python_version()}")
    print("| network | params (M) | patch | batch | DS | loop it/s | loop CPU s/it | step it/s | step CPU s/it "
          "| peak memory |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        patch = "x".join(str(p) for p in r["patch_size"])
        print(f"| {r['arch']} | {r['parameters_M']} | {patch} | {r['batch_size']} | {r['deep_supervision']} "
              f"| {r['loop_it_per_s']} | {r['loop_cpu_s_per_it']} | {r['step_it_per_s']} | {r['step_cpu_s_per_it']} "
              f"| {r['peak_memory_GB']} GB ({r['peak_memory_kind']}; {r['baseline_rss_GB']} GB after imports) |")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
