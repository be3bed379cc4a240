"""Accuracy of svseg's configurations against nnU-Net's U-Net on the same plan, at equal compute and equal iterations.

What it does, on a dataset already imported (``--dataset``), a folder ``svseg import`` reads
(``--data``) or the seeded synthetic CT generator (``--synthetic3d N``):

1. plans every distinct plan the suite needs (a preset plus overrides and an amplification mode)
   into its own preprocessed folder under ``--out``, with the split written first: ``fixed`` trains
   on every training case and scores the dataset's test split (set aside at import with
   ``--test-fraction``), ``cv`` cross-validates with ``--folds`` folds and scores each fold's
   held-out cases, pooled;
2. measures each configuration's seconds per training iteration in isolation (nothing else of the
   benchmark runs meanwhile): ``--speed-repeats`` rounds, each starting one fresh process per
   configuration in turn, with ``--threads`` torch threads and the batch and patch of its training,
   that times ``--speed-iterations`` iterations of nnU-Net's loop (augmented batch + forward, loss,
   backward, step) after ``--speed-warmup``; the process's CPU seconds per iteration (on CUDA: wall
   seconds after synchronising), minimum over rounds. Interleaved rounds let a neighbour's load
   fall on every configuration alike, and the minimum is what the machine can do;
3. converts ``--budget-seconds`` into iterations per configuration (equal compute) and trains
   every configuration also at ``--iterations`` (equal iterations; default: the iterations ``unet``
   gets from the budget, so that run serves both modes), always ``--epochs`` epochs so that the
   learning-rate schedule has the same shape; a run already present is reused;
4. predicts the held-out cases with each trained model (``svseg predict``: final checkpoint, no
   test-time augmentation), evaluates them (``svseg evaluate``) and writes ``accuracy.md`` and
   ``accuracy.json``: per mode and stratum (ultra_small, small, all) object Dice, detection F1 and
   image Dice with 95 % case-bootstrap intervals, and the paired difference to each configuration's
   reference (``unet`` on the same plan, or the un-ablated configuration) with its interval.

Resumable: plans, timings, trainings (``checkpoint_final.pth``) and scored runs (``run.json``)
that exist are not redone; a killed benchmark restarts its unfinished trainings. In fixed mode the
trainer's own end-of-run validation is pointed at one training case (a monitor; the held-out test
cases are scored by predict + evaluate only), so that nnU-Net's mirrored validation does not
double the cost of every run. Training and prediction run in subprocesses (nnU-Net reads its
folder variables when imported).

Usage (the nuclei set: 120 images and masks under images/ and labels/):
    .venv/bin/python benchmarks/bench_accuracy.py --data NUCLEI_DIR --labels background,nucleus --out /tmp/acc
    .venv/bin/python benchmarks/bench_accuracy.py --synthetic3d 16 --out /tmp/acc3d --suite main
    .venv/bin/python benchmarks/bench_accuracy.py --dataset ATLAS --preset svanet_paper --device cuda \\
        --split cv --budget-seconds 3600 --jobs 1 --out /data/acc_atlas
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_accuracy_report as report  # sibling modules, found through the line above
from bench_accuracy_suites import (
    REFERENCE,
    SUITES,
    Config,
    held_out,
    load_suite_file,
    make_splits,
    plan_key,
    preset_document,
    suite_configs,
    training_cases,
)

from svseg.utils.fs import atomic_write_json, atomic_write_text

DEFAULT_PRESET = "cpu_quick"  # svanet_tiny on 128 px patches; epochs and iterations come from the budget


@dataclass(frozen=True)
class Layout:
    """Where everything of one benchmark lives under ``--out``."""

    out: Path
    raw_root: Path
    dataset: str

    def plan_dir(self, key: str) -> Path:
        return self.out / "plans" / key

    def run_dir(self, config: str, iterations: int) -> Path:
        return self.out / "runs" / config / f"it{iterations}"

    def env(self, key: str, results: Path) -> dict[str, str]:
        """nnU-Net's three folders for a worker: the shared raw data, the plan's, the run's own results."""
        env = {**os.environ, "nnUNet_raw": str(self.raw_root), "SVSEG_QUIET": "1",
               "nnUNet_preprocessed": str(self.plan_dir(key) / "preprocessed"), "nnUNet_results": str(results)}
        env.pop("SVSEG_HOME", None)
        return env


def worker(kind: str, payload: dict[str, Any], env: dict[str, str], log_path: Path) -> None:
    """Run one step in a fresh process; a failure names its log file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(payload)]
    with open(log_path, "ab") as log_file:  # the worker's own output, appended across resumptions
        done = subprocess.run(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed (exit {done.returncode}); see {log_path}")


def prepare_data(args: argparse.Namespace) -> Layout:
    """The raw dataset: already imported (``--dataset``), or imported here into ``--out/raw``."""
    out = args.out.resolve()
    if args.dataset:
        from svseg.paths import resolve_dataset

        ref = resolve_dataset(args.dataset)
        return Layout(out, ref.raw_dir.parent, ref.folder_name)
    raw_root = out / "raw"
    existing = sorted(raw_root.glob("Dataset*")) if raw_root.is_dir() else []
    if not existing:
        payload = {"data": str(args.data.resolve()) if args.data else None, "synthetic3d": args.synthetic3d,
                   "out": str(out), "labels": args.labels,
                   "test_fraction": args.test_fraction if args.split == "fixed" else 0.0}
        env = {**os.environ, "nnUNet_raw": str(raw_root), "SVSEG_QUIET": "1"}
        worker("import", payload, env, out / "logs" / "import.log")
        existing = sorted(raw_root.glob("Dataset*"))
    return Layout(out, raw_root, existing[0].name)


def write_splits(layout: Layout, key: str, splits: list[dict[str, list[str]]]) -> None:
    """The benchmark's split, written before planning (amplification plans per fold from it)."""
    atomic_write_json(layout.plan_dir(key) / "preprocessed" / layout.dataset / "splits_final.json", splits)


def plan_all(layout: Layout, configs: list[Config], splits: list[dict], processes: int) -> dict[str, str]:
    """Plan and preprocess every distinct plan once; returns config name -> plan key."""
    keys = {config.name: plan_key(config) for config in configs}
    for config in configs:
        key = keys[config.name]
        summary = layout.plan_dir(key) / "plan.json"
        if summary.is_file():
            continue
        preset_file = layout.plan_dir(key) / "preset.json"
        atomic_write_json(preset_file, preset_document(config.preset, config.overrides))
        seed_from_planned(layout, key)
        write_splits(layout, key, splits)
        payload = {"dataset": layout.dataset, "preset": str(preset_file), "amplification": config.amplification,
                   "processes": processes, "summary": str(summary)}
        print(f"planning {config.name} ({key})", flush=True)
        env = layout.env(key, layout.plan_dir(key) / "results")
        worker("plan", payload, env, layout.out / "logs" / f"plan_{key}.log")
    return keys


def seed_from_planned(layout: Layout, key: str) -> None:
    """Start a new plan from a finished one's fingerprint and arrays: svseg reuses what still matches.

    The fingerprint depends only on the raw data and the strata, and the preprocessed arrays are
    redone when the new plan's settings differ (the completion record holds them), so copying
    saves the fingerprint and, when spacing and normalisation agree, the preprocessing.
    """
    target = layout.plan_dir(key) / "preprocessed" / layout.dataset
    done = sorted(path.parent for path in (layout.out / "plans").glob("*/plan.json"))
    if not done or target.exists():
        return
    shutil.copytree(done[0] / "preprocessed" / layout.dataset, target,
                    ignore=shutil.ignore_patterns("svsegPlans.json", "splits_final.json", ".*"))


def same_plan(layout: Layout, keys: dict[str, str], config: Config, by_name: dict[str, Config]) -> bool:
    """True when an ablation's plan equals its reference's: the decision does not fire on this dataset.

    A later draw of the reference (same plan and network, ``draw`` > 1) is trained: it measures the spread.
    """
    reference = by_name.get(config.reference or "")
    if reference is None or reference.arch != config.arch or reference.draw != config.draw:
        return False
    read = [json.loads((layout.plan_dir(keys[name]) / "plan.json").read_text(encoding="utf-8"))["signature"]
            for name in (config.name, reference.name)]
    return read[0] == read[1]


def measure_speeds(layout: Layout, configs: list[Config], keys: dict[str, str], args: argparse.Namespace
                   ) -> dict[str, dict[str, Any]]:
    """Seconds per iteration of each configuration: rounds of one fresh process per configuration, in turn.

    Nothing else of the benchmark runs meanwhile, and the rounds interleave the configurations, so
    a neighbour's load that comes and goes falls on all of them alike; the minimum over rounds is
    kept (what the machine can do). A finished configuration's file is reused.
    """
    folder = layout.out / "speed"
    pending = [config for config in configs if not (folder / f"{config.name}.json").is_file()]
    rounds: dict[str, list[dict[str, Any]]] = {config.name: [] for config in pending}
    for index in range(args.speed_repeats):
        for config in pending:
            print(f"timing {config.name} (round {index + 1} of {args.speed_repeats})", flush=True)
            result = folder / "rounds" / f"{config.name}_{index}.json"
            if not result.is_file():
                payload = {"dataset": layout.dataset, "arch": config.arch, "device": args.device,
                           "threads": args.threads, "warmup": args.speed_warmup,
                           "iterations": args.speed_iterations, "result": str(result)}
                env = layout.env(keys[config.name], folder / "scratch_results")
                worker("speed", payload, env, layout.out / "logs" / "speed.log")
            rounds[config.name].append(json.loads(result.read_text(encoding="utf-8")))
    for config in pending:
        measured = rounds[config.name]
        summary = {key: measured[0][key] for key in ("network", "patch_size", "batch_size", "measure", "threads",
                                                     "device")}
        summary["repeats"] = [entry["seconds_per_iteration"] for entry in measured]
        summary["load_average"] = [entry["load_average"] for entry in measured]
        summary["seconds_per_iteration"] = min(summary["repeats"])
        atomic_write_json(folder / f"{config.name}.json", summary)
    return {config.name: json.loads((folder / f"{config.name}.json").read_text(encoding="utf-8"))
            for config in configs}


def iteration_plan(configs: list[Config], speeds: dict[str, dict[str, Any]], args: argparse.Namespace
                   ) -> dict[str, dict[str, int]]:
    """``{mode: {config: iterations}}``, every count a multiple of ``--epochs``."""
    def rounded(iterations: float) -> int:
        return args.epochs * max(1, round(iterations / args.epochs))

    plan: dict[str, dict[str, int]] = {}
    if "compute" in args.modes:
        plan["compute"] = {c.name: rounded(args.budget_seconds / speeds[c.name]["seconds_per_iteration"])
                           for c in configs}
    if "iterations" in args.modes:
        anchor = next((c for c in configs if c.name == REFERENCE), configs[0])
        count = args.iterations or rounded(args.budget_seconds / speeds[anchor.name]["seconds_per_iteration"])
        plan["iterations"] = {c.name: rounded(count) for c in configs}
    return plan


def stage_all(layout: Layout, splits: list[dict]) -> list[dict[str, Any]]:
    """Each fold's held-out images and references, copied once under ``--out/cases/fold_k``."""
    from svseg.datasets.held_out import stage_cases

    raw_dir = layout.raw_root / layout.dataset
    folds = []
    for fold in range(len(splits)):
        cases, source = held_out(raw_dir, splits, fold)
        target = layout.out / "cases" / f"fold_{fold}"
        record = target / "cases.json"
        if not (record.is_file() and json.loads(record.read_text(encoding="utf-8")) == cases):
            stage_cases(raw_dir, cases, source, target)
            atomic_write_json(record, cases)
        folds.append({"fold": fold, "source": source, "cases": cases,
                      "images": str(target / "images"), "labels": str(target / "labels")})
    return folds


def run_all(layout: Layout, configs: list[Config], keys: dict[str, str], counts: dict[str, dict[str, int]],
            folds: list[dict[str, Any]], skipped: set[str], args: argparse.Namespace) -> None:
    """Train, predict and evaluate every (configuration, iterations) pair not done yet, ``--jobs`` at a time."""
    jobs = sorted({(c.name, counts[mode][c.name]) for mode in counts for c in configs if c.name not in skipped},
                  key=lambda job: -job[1])
    by_name = {c.name: c for c in configs}

    def one(job: tuple[str, int]) -> None:
        name, iterations = job
        run_dir = layout.run_dir(name, iterations)
        for fold in folds:
            if (run_dir / f"fold_{fold['fold']}" / "run.json").is_file():  # written last by the worker
                continue
            print(f"training {name} for {iterations} iterations, fold {fold['fold']}", flush=True)
            payload = {"dataset": layout.dataset, "arch": by_name[name].arch, "fold": fold["fold"],
                       "epochs": args.epochs, "iters_per_epoch": iterations // args.epochs, "device": args.device,
                       "threads": args.threads, "images": fold["images"], "labels": fold["labels"],
                       "out": str(run_dir / f"fold_{fold['fold']}")}
            worker("run", payload, layout.env(keys[name], run_dir / "results"), run_dir / "run.log")

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in [pool.submit(one, job) for job in jobs]:
            future.result()


def collect(layout: Layout, configs: list[Config], counts: dict[str, dict[str, int]], speeds: dict[str, Any],
            folds: list[dict[str, Any]], skipped: set[str]) -> dict[str, list[report.RunScores]]:
    """Each mode's runs with their held-out evaluations pooled over the folds."""
    modes: dict[str, list[report.RunScores]] = {}
    present = {config.name for config in configs} - skipped
    for mode, per_config in counts.items():
        runs = []
        for config in configs:
            if config.name in skipped:
                continue
            run_dir = layout.run_dir(config.name, per_config[config.name])
            metrics = [json.loads((run_dir / f"fold_{fold['fold']}" / "evaluation" / "metrics.json")
                                  .read_text(encoding="utf-8")) for fold in folds]
            runs.append(report.RunScores(config.name, config.reference if config.reference in present else None,
                                         per_config[config.name], speeds[config.name]["seconds_per_iteration"],
                                         report.pool_metrics(metrics), config.note))
        modes[mode] = runs
    return modes


def git_revision() -> str:
    """The checkout's short revision (and ``+changes`` when files differ from it), for the report."""
    root = Path(__file__).resolve().parent.parent
    try:
        revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                  text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return revision + ("+changes" if dirty else "")


def context(layout: Layout, args: argparse.Namespace, folds: list[dict[str, Any]], skipped: dict[str, str],
            started: float) -> dict[str, Any]:
    """What a reader needs to repeat the run: data, split, budget, machine, command, date."""
    from svseg.comparison.api import machine_description

    held = sum(len(fold["cases"]) for fold in folds)
    train = len(training_cases(layout.raw_root / layout.dataset))
    split = (f"fixed: {train} training cases, {held} held-out test cases" if args.split == "fixed"
             else f"{len(folds)}-fold cross-validation of {train} cases, {held} held-out predictions pooled")
    entries = {
        "dataset": layout.dataset, "split": split, "budget": f"{args.budget_seconds:g} s of training compute "
        f"per configuration (s/it from the isolated timing), {args.epochs} epochs per run",
        "threads": f"{args.threads} torch thread(s) in every training and timing" if args.device == "cpu" else "-",
        "device": args.device, "machine": machine_description(), "load average at the end": f"{os.getloadavg()[0]:.1f}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "git revision": git_revision(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "wall time of this invocation": f"{(time.perf_counter() - started) / 60:.1f} min",
    }
    if skipped:
        entries["not trained"] = "; ".join(f"`{name}` ({why})" for name, why in skipped.items())
    return entries


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="an imported dataset (name, id or folder name) in SVSEG_HOME")
    source.add_argument("--data", type=Path, help="a folder svseg import reads (images/ + labels/, ...)")
    source.add_argument("--synthetic3d", type=int, help="generate this many seeded synthetic CT volumes")
    parser.add_argument("--labels", default=None, help="label names for --data, e.g. background,nucleus")
    parser.add_argument("--out", type=Path, required=True, help="benchmark folder (reused: finished steps are kept)")
    parser.add_argument("--suite", default="main", help=f"{', '.join(SUITES)} or a JSON file of configurations")
    parser.add_argument("--preset", default=DEFAULT_PRESET, help="the plan's preset (name or file)")
    parser.add_argument("--archs", default="m2snet_tiny,sts_net_tiny", help="extra networks of --suite networks")
    parser.add_argument("--only", default="", help="run only these configurations of the suite (and their references)")
    parser.add_argument("--split", choices=("fixed", "cv"), default="fixed")
    parser.add_argument("--test-fraction", type=float, default=0.4, help="held-out fraction of a fixed split")
    parser.add_argument("--folds", type=int, default=5, help="folds of --split cv")
    parser.add_argument("--modes", default="compute,iterations", help="compute, iterations or both")
    parser.add_argument("--budget-seconds", type=float, default=300.0, help="training compute per configuration")
    parser.add_argument("--iterations", type=int, default=None, help="equal-iterations count (default: see above)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of every run (iterations split evenly)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | mps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process on the CPU")
    parser.add_argument("--jobs", type=int, default=2, help="trainings at the same time (timings are never parallel)")
    parser.add_argument("-np", dest="processes", type=int, default=2, help="preprocessing processes")
    parser.add_argument("--speed-warmup", type=int, default=3)
    parser.add_argument("--speed-repeats", type=int, default=3)
    parser.add_argument("--speed-iterations", type=int, default=8)
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    args = parser.parse_args(argv)
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if not set(args.modes) <= set(report.MODE_TITLES) or not args.modes:
        parser.error("--modes: compute, iterations or compute,iterations")
    if args.split == "fixed" and not 0 < args.test_fraction < 1:
        parser.error("--test-fraction must be in (0, 1)")
    return args


def main(argv: list[str] | None = None) -> Path:
    """Run (or resume) the benchmark; returns the markdown report's path."""
    started = time.perf_counter()
    args = parse_args(argv)
    suite = Path(args.suite)
    configs = load_suite_file(suite) if suite.suffix == ".json" else suite_configs(
        args.suite, args.preset, [a for a in args.archs.split(",") if a])
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        wanted |= {config.reference for config in configs if config.name in wanted and config.reference}
        configs = [config for config in configs if config.name in wanted]
    layout = prepare_data(args)
    splits = make_splits(layout.raw_root / layout.dataset, args.split, args.folds, args.test_fraction)
    keys = plan_all(layout, configs, splits, args.processes)
    by_name = {config.name: config for config in configs}
    skipped = {c.name: f"same plan as `{c.reference}`: the decision does not fire on this dataset"
               for c in configs if same_plan(layout, keys, c, by_name)}
    active = [config for config in configs if config.name not in skipped]
    speeds = measure_speeds(layout, active, keys, args)
    counts = iteration_plan(active, speeds, args)
    folds = stage_all(layout, splits)
    run_all(layout, active, keys, counts, folds, set(skipped), args)
    modes = collect(layout, active, counts, speeds, folds, set(skipped))
    tables = {mode: report.mode_table(runs, n_resamples=args.resamples) for mode, runs in modes.items()}
    info = context(layout, args, folds, skipped, started)
    plans = {name: json.loads((layout.plan_dir(keys[name]) / "plan.json").read_text(encoding="utf-8"))
             for name in by_name}
    atomic_write_json(layout.out / "accuracy.json", {"context": info, "configs": [asdict(c) for c in configs],
                                                     "plans": plans, "speed": speeds, "iterations": counts,
                                                     "tables": tables})
    markdown = layout.out / "accuracy.md"
    atomic_write_text(markdown, report.report_markdown(info, speeds, tables))
    print(f"written {markdown} and {layout.out / 'accuracy.json'}", flush=True)
    return markdown


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        import bench_accuracy_workers

        bench_accuracy_workers.run(sys.argv[2], json.loads(sys.argv[3]))
    else:
        main()
