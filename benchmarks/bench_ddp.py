"""Time per training iteration: one process against N DDP ranks on the same global batch.

The plan is the one ``svseg demo`` makes (the embedded nuclei, preset ``cpu_quick``: nnU-Net's
2D U-Net planned for 128 x 128 patches); the global batch is ``--batch-size`` (default 4) in
both runs, so N ranks each train on batch/N cases and DDP all-reduces the gradients.

Each run is a fresh process group started the way users start one: the single process directly,
the N ranks by ``torchrun --standalone --nproc-per-node N``. Every rank builds svseg's trainer
(its DDP wrap, gloo on the CPU or NCCL on GPUs), starts nnU-Net's loaders and times
``--iterations`` full iterations after ``--warmup``: the next augmented batch of its loader plus
the training step (forward, loss, backward with the all-reduce, clipping, optimizer step). The
median of rank 0 is reported; the all-reduce makes every rank wait for the slowest, so rank 0's
time is the job's. Threads follow ``svseg train``: on the CPU the machine's cores are shared by
the ranks (one process: all cores; N ranks: cores/N each), unless ``--threads`` fixes them per
process.

On a 2-core CPU no speed-up is possible; the ratio shows what the distributed step costs there.
On a GPU machine the same command measures the scaling over its GPUs.

Usage:
    .venv/bin/python benchmarks/bench_ddp.py --device cpu --nproc 2
    .venv/bin/python benchmarks/bench_ddp.py --device cuda --nproc 4 --batch-size 8 --iterations 50
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
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


def build(device_name: str, batch_size: int, iterations: int, threads: int) -> tuple[object, object]:
    """svseg's trainer for the demo plan on this rank's device, with its loaders started."""
    import torch

    from svseg.paths import export_nnunet_environment, resolve_dataset
    from svseg.planning.plans import load_plans, plans_path
    from svseg.training.device import configure_threads, configure_workers, local_world_size, resolve_device
    from svseg.training.job import TrainingJob, build_trainer
    from svseg.training.run_plans import plans_for_run

    export_nnunet_environment()
    device = resolve_device(device_name)
    configure_workers(device, local_world_size())
    configure_threads(device)
    if threads > 0:
        torch.set_num_threads(threads)
    if device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    ref = resolve_dataset(DATASET)
    plans = load_plans(plans_path(ref.preprocessed_dir))
    dataset_json = json.loads((ref.preprocessed_dir / "dataset.json").read_text(encoding="utf-8"))
    recipe = plans.recipe.with_overrides(batch_size=batch_size, epochs=1, iters_per_epoch=iterations)
    raw, configuration = plans_for_run(plans, recipe, dataset_json)
    with contextlib.redirect_stdout(io.StringIO()):
        trainer = build_trainer(TrainingJob(raw, configuration, 0, dataset_json), device)
        trainer.on_train_start()
        trainer.on_train_epoch_start()
    return trainer, device


def time_iterations(trainer, device, warmup: int, iterations: int) -> list[float]:
    """Wall seconds of each full iteration (next batch + training step) after the warm-up."""
    import torch

    seconds = []
    for index in range(warmup + iterations):
        start = time.perf_counter()
        trainer.train_step(next(trainer.dataloader_train))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if index >= warmup:
            seconds.append(time.perf_counter() - start)
    trainer.stop_progress()
    for loader in (trainer.dataloader_train, trainer.dataloader_val):
        if hasattr(loader, "_finish"):
            loader._finish()
    return seconds


def child(args: argparse.Namespace) -> None:
    """One process of a run: alone, or one rank of the torchrun job."""
    import torch

    from svseg.training.ddp import process_group, torchrun_rank

    placement = torchrun_rank()
    world = placement.world_size if placement is not None else 1
    if args.device == "cuda":
        torch.cuda.set_device(placement.local_rank if placement is not None else 0)
    with process_group(torch.device(args.device)) if world > 1 else contextlib.nullcontext():
        trainer, device = build(args.device, args.batch_size, args.warmup + args.iterations, args.threads)
        seconds = time_iterations(trainer, device, args.warmup, args.iterations)
    if placement is None or placement.rank == 0:
        result = {"processes": world, "device": str(device), "global_batch": args.batch_size,
                  "rank_batch": trainer.batch_size, "torch_threads": torch.get_num_threads(),
                  "s_per_it": round(statistics.median(seconds), 4),
                  "s_per_it_range": [round(min(seconds), 4), round(max(seconds), 4)]}
        print("RESULT " + json.dumps(result), flush=True)


def run(home: Path, nproc: int, args: argparse.Namespace) -> dict:
    """One measured run in fresh processes: ``nproc`` 1 directly, otherwise under torchrun."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("nnUNet_")}
    env.update(SVSEG_HOME=str(home), SVSEG_QUIET="1")
    options = ["--child", "--device", args.device, "--batch-size", str(args.batch_size), "--threads", str(args.threads),
               "--warmup", str(args.warmup), "--iterations", str(args.iterations)]
    launch = [] if nproc == 1 else ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
    command = [sys.executable, *launch, __file__, *options]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(next(line[7:] for line in output.splitlines() if line.startswith("RESULT ")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--nproc", type=int, default=2, help="DDP ranks (GPUs with --device cuda)")
    parser.add_argument("--batch-size", type=int, default=4, help="the global batch of both runs")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads per process (default 0: as svseg train, the cores shared by the ranks)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--workdir", type=Path, default=None, help="a prepared data root (default: a new temp dir)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.batch_size < args.nproc:
        parser.error(f"--batch-size {args.batch_size} is smaller than --nproc {args.nproc}")
    home = args.workdir or Path(tempfile.mkdtemp(prefix="svseg_bench_ddp_"))
    if not (home / "preprocessed").is_dir():
        start = time.perf_counter()
        prepare(home)
        print(f"prepared {home} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    single, ranks = run(home, 1, args), run(home, args.nproc, args)
    print(f"{date.today()} machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, python {platform.python_version()}")
    print("| run | device | batch per process | torch threads | s/iteration (median) | min-max |")
    print("|---|---|---:|---:|---:|---|")
    for r in (single, ranks):
        print(f"| {r['processes']} process{'es' if r['processes'] > 1 else ''} | {r['device']} | {r['rank_batch']} "
              f"| {r['torch_threads']} | {r['s_per_it']} | {r['s_per_it_range'][0]}-{r['s_per_it_range'][1]} |")
    print(f"ratio {args.nproc} ranks / 1 process: {ranks['s_per_it'] / single['s_per_it']:.2f}")
    print(json.dumps({"single": single, "ddp": ranks}, indent=2))


if __name__ == "__main__":
    main()
