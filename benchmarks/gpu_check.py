"""The GPU check (issue 18): svseg's CUDA paths end to end and the speed targets, in one call.

On a machine with one CUDA GPU and a Python that already has torch, within about 8 minutes:

1. ``environment``: versions, the GPU, the autocast dtype nnU-Net's trainer will use;
2. ``demo``: ``svseg demo`` on the device (import, plan, train svanet_tiny, predict, evaluate);
3. ``plan``: ``svseg plan-and-preprocess`` of the demo data with a check preset: the full ``svanet``
   at 512 x 512 (the nuclei are planned at half their spacing, so slices are 512 x 512);
4. ``speed-eager``: svanet and nnU-Net's U-Net for a 512 x 512 plan, inference and training at
   batch 16, bf16 autocast, eager, with peak memory, CUDA kernels and host syncs per step; svanet
   also contiguous and channels_last, with BatchNorms folded for inference and with AssemFormers
   checkpointed for training (benchmarks/gpu_timing.py's phases);
5. ``train``: ``svseg train --compile`` of svanet on that plan for a few iterations;
6. ``predict``: ``svseg predict`` of the demo's held-out images with that model;
7. ``predict-volume``: svseg's batched sliding window against nnU-Net's predictor, same model, on a
   200 x 512 x 512 preprocessed volume;
8. ``speed-compiled``: step 4 under ``torch.compile``: compile time and recompiles after the first call.

Each step runs in its own process with a time limit taken from what is left of ``--budget-s``; a
step that fails or runs out of time is recorded as such and the others still run. The report
(``gpu_check.json``, one JSON, also printed) and the processes' output (``gpu_check.log``) go to
``--out`` (default ``$OUT``). ``--device cpu --small`` runs every step at tiny sizes (svanet_tiny,
64 x 64, a 7-case demo) so CI keeps the script working (tests/benchmarks/test_gpu_check.py).
On the GPU machine, nnU-Net's stack comes from wheels: ``--wheels DIR`` installs them into
``--site`` first (benchmarks/gpu_wheels.sh downloads them; docs/benchmarks.md, "GPU check", has
the two calls).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TIMING = Path(__file__).resolve().with_name("gpu_timing.py")
TARGETS = {"infer_img_s": 450.0, "train_img_s": 105.0, "train_peak_gb": 26.0, "compile_s": 120.0}
DEMO_SNIPPET = ("import sys; from svseg.demo.api import run_demo; "
                "run_demo(sys.argv[1], minutes=0.1, data='2d', device=sys.argv[2], max_cases=7)")


@dataclass(frozen=True)
class Sizes:
    """What the check runs at: the issue's shapes on a GPU, tiny ones for ``--small``."""

    network: str
    patch: int
    batch: int
    train_batch: int
    train_iters: int
    volume_slices: int
    warmup: int
    iters: int
    compile_backend: str
    compiled_phases: str

    @classmethod
    def pick(cls, small: bool, device: str) -> Sizes:
        if small:  # eager dynamo backend: inductor's C++ build takes 10+ minutes per graph on a CPU
            return cls("svanet_tiny", 64, 2, 2, 2, 4, 1, 2, "eager" if device == "cpu" else "inductor", "infer")
        return cls("svanet", 512, 16, 16, 8, 200, 3, 10, "inductor", "infer,train")


@dataclass
class Check:
    """The run's settings, clock and report; saved after every step so a killed run keeps its results."""

    args: argparse.Namespace
    sizes: Sizes
    work: Path
    out: Path
    env: dict[str, str]
    deadline: float
    report: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.work / "demo" / "svseg_data"

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def save(self) -> None:
        from svseg.utils.fs import atomic_write_json, atomic_write_text

        atomic_write_json(self.out / "gpu_check.json", self.report)
        atomic_write_text(self.out / "gpu_check.log", "\n".join(self.log) + "\n")


class OutOfTime(Exception):
    """Too little of the budget is left to start a step."""


def run(check: Check, label: str, command: list[str], cap_s: float) -> tuple[int, str]:
    """Run `command` in its own session with a time limit; (exit code, output). 124 = killed at the limit."""
    limit = check.left() if check.args.small else min(cap_s, check.left())  # CPU: only the budget bounds
    if limit < 15:
        raise OutOfTime(f"{check.left():.0f} s of the budget left")
    check.log.append(f"=== {label}: {' '.join(command)} (limit {limit:.0f} s)")
    process = subprocess.Popen(command, cwd=check.work, env=check.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=limit)
        code = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # nnU-Net's worker processes too
        output, _ = process.communicate()
        code = 124
    check.log.append(output[-30000:])
    return code, output


def svseg_cli(check: Check, label: str, arguments: list[str], cap_s: float) -> dict[str, Any]:
    code, output = run(check, label, [sys.executable, "-m", "svseg.cli", *arguments], cap_s)
    return {"exit_code": code, "ok": code == 0, "output_tail": output.strip().splitlines()[-12:]}


def step_environment(check: Check) -> dict[str, Any]:
    from importlib.metadata import version

    import torch

    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpu_count": os.cpu_count(), "torch": torch.__version__,
                            "cuda_available": torch.cuda.is_available()}
    for package in ("nnunetv2", "SimpleITK", "numpy", "triton"):
        try:
            info[package] = version(package)
        except Exception:  # a missing package is information here
            info[package] = None
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        info.update(gpu=properties.name, capability=f"{properties.major}.{properties.minor}",
                    gpu_memory_gb=properties.total_memory / 1e9, cuda=torch.version.cuda)
        # nnU-Net's trainer uses torch.autocast(device, enabled=True): this dtype, with a GradScaler
        info["svseg_train_autocast_dtype"] = str(torch.get_autocast_dtype("cuda"))
    return info


def step_demo(check: Check) -> dict[str, Any]:
    out = check.work / "demo"
    if check.args.small:
        code, output = run(check, "demo", [sys.executable, "-c", DEMO_SNIPPET, str(out), check.args.device], 300)
        return {"command": "run_demo(max_cases=7)", "exit_code": code, "ok": code == 0,
                "output_tail": output.strip().splitlines()[-12:]}
    arguments = ["demo", "--out", str(out), "--device", check.args.device, "--minutes", str(check.args.demo_minutes)]
    return {"command": "svseg " + " ".join(arguments), **svseg_cli(check, "demo", arguments, 240)}


def step_plan(check: Check) -> dict[str, Any]:
    from svseg.utils.fs import atomic_write_json

    preset = json.loads((REPO / "plans" / "svanet_paper.json").read_text(encoding="utf-8"))
    preset.update(name="gpu_check", description="benchmarks/gpu_check.py: a few iterations of the issue's shapes",
                  notes="Written by benchmarks/gpu_check.py.")
    preset["network"] = {"name": check.sizes.network, "kwargs": {}}
    preset["recipe"].update(epochs=1, iters_per_epoch=check.sizes.train_iters, val_iters_per_epoch=2,
                            batch_size=check.sizes.train_batch, warmup_epochs=0, freeze_encoder_fraction=0.0,
                            checkpoint_every=1)
    side = check.sizes.patch
    # min_object_px above any nucleus: the planner refines the spacing to its limit, half the native
    # spacing, so the 256 x 256 images become 512 x 512 slices and the patch is the whole slice
    preset["planning"].update(max_patch_size=[side, side], gpu_memory_gb=80, epoch_is_one_pass=False,
                              min_object_px=1e6 if not check.args.small else 16)
    path = check.work / "gpu_check_preset.json"
    atomic_write_json(path, preset)
    result = svseg_cli(check, "plan", ["plan-and-preprocess", "-d", "DemoNuclei", "--preset", str(path),
                                       "--clean", "-np", str(min(8, os.cpu_count() or 1))], 180)
    plans_file = next(check.home.glob("preprocessed/Dataset*_DemoNuclei/svsegPlans.json"), None)
    if plans_file is not None:
        configuration = json.loads(plans_file.read_text(encoding="utf-8"))["configurations"]["2d"]
        result.update(patch_size=configuration["patch_size"], spacing=configuration["spacing"],
                      batch_size=configuration["batch_size"])
    return result


def step_train(check: Check) -> dict[str, Any]:
    compile_flag = "--compile" if check.args.device == "cuda" else "--no-compile"  # nnU-Net: no compile on CPU
    arguments = ["train", "-d", "DemoNuclei", "-f", "0", "--device", check.args.device, "--epochs", "1",
                 "--iters-per-epoch", str(check.sizes.train_iters), "--overwrite", compile_flag]
    result = {"command": "svseg " + " ".join(arguments), **svseg_cli(check, "train", arguments, 300)}
    result["checkpoint"] = model_folder(check) is not None
    return result


def model_folder(check: Check) -> Path | None:
    found = next(check.home.glob("results/Dataset*_DemoNuclei/SvsegTrainer__svsegPlans__2d/fold_0/"
                                 "checkpoint_final.pth"), None)
    return None if found is None else found.parent.parent


def step_predict(check: Check) -> dict[str, Any]:
    out = check.work / "predictions"
    arguments = ["predict", "-i", str(check.work / "demo" / "test_cases" / "images"), "-o", str(out),
                 "-d", "DemoNuclei", "-f", "0", "--arch", check.sizes.network, "--device", check.args.device,
                 "--overwrite"]
    result = {"command": "svseg " + " ".join(arguments), **svseg_cli(check, "predict", arguments, 120)}
    result["masks_written"] = len(list(out.glob("*.png"))) if out.is_dir() else 0
    return result


def timing(check: Check, label: str, arguments: list[str], cap_s: float) -> list[dict[str, Any]]:
    """Run gpu_timing.py; its JSON lines (also those printed before a time-out or crash)."""
    code, output = run(check, label, [sys.executable, str(TIMING), *arguments], cap_s)
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    if code != 0:
        records.append({"child": label, "exit_code": code, "error": output.strip().splitlines()[-3:]})
    return records


def step_predict_volume(check: Check) -> dict[str, Any]:
    folder = model_folder(check)
    if folder is None:
        return {"ok": False, "skipped": "no trained model (train step failed)"}
    records = timing(check, "predict-volume", ["predictor", "--model", str(folder), "--device", check.args.device,
                                               "--slices", str(check.sizes.volume_slices),
                                               "--size", str(check.sizes.patch)], 180)
    seconds = {r["predictor"]: r["seconds"] for r in records if "predictor" in r}
    ratio = seconds["nnunet"] / seconds["svseg"] if len(seconds) == 2 else None
    return {"ok": ratio is not None, "results": records, "svseg_speedup_over_nnunet": ratio}


def network_arguments(check: Check, name: str) -> list[str]:
    s = check.sizes
    return ["network", "--name", name, "--device", check.args.device, "--size", str(s.patch), "--batch",
            str(s.batch), "--classes", "8", "--dtype", "bf16", "--warmup", str(s.warmup), "--iters", str(s.iters)]


def step_speed_eager(check: Check) -> dict[str, Any]:
    name, every = check.sizes.network, "infer,infer-folded,train,train-checkpointed"
    records = timing(check, f"{name} eager", [*network_arguments(check, name), "--phases", every], 180)
    layout_phases = "infer" if check.args.small else every
    records += timing(check, f"{name} eager channels_last",
                      [*network_arguments(check, name), "--channels-last", "--phases", layout_phases], 180)
    records += timing(check, "unet eager", network_arguments(check, "unet"), 120)
    return {"ok": all("error" not in r for r in records), "results": records}


def step_speed_compiled(check: Check) -> dict[str, Any]:
    eager = [r for r in check.report.get("speed-eager", {}).get("results", []) if r.get("phase") == "infer"]
    layout = max(eager, key=lambda r: r.get("img_s", 0.0), default={}).get("channels_last", False)
    extra = ["--compile", "--compile-backend", check.sizes.compile_backend, "--phases", check.sizes.compiled_phases]
    records = timing(check, "unet compiled", [*network_arguments(check, "unet"), *extra], 240)
    name = check.sizes.network
    records += timing(check, f"{name} compiled",
                      [*network_arguments(check, name), *extra, *(["--channels-last"] if layout else [])], 420)
    return {"ok": all("error" not in r for r in records), "results": records}


STEPS = {"environment": step_environment, "demo": step_demo, "plan": step_plan, "speed-eager": step_speed_eager,
         "train": step_train, "predict": step_predict, "predict-volume": step_predict_volume,
         "speed-compiled": step_speed_compiled}
NEEDS = {"plan": "demo", "train": "plan", "predict": "train", "predict-volume": "train"}


def targets(report: dict[str, Any], network: str) -> dict[str, Any]:
    """The issue's targets for svanet beside the best configuration measured for each (eager or compiled)."""
    rows = [r for step in ("speed-eager", "speed-compiled") for r in report.get(step, {}).get("results", [])
            if r.get("network") == network and "img_s" in r]

    def best(phases: tuple[str, ...], peak_gb: float | None = None) -> dict[str, Any] | None:
        fitting = [r for r in rows if r["phase"] in phases and (peak_gb is None or r["peak_gb"] <= peak_gb)]
        row = max(fitting, key=lambda r: r["img_s"], default=None)
        return None if row is None else {k: row[k] for k in ("img_s", "peak_gb", "phase", "compile", "channels_last")}

    compiled = [r for r in rows if r["compile"]]
    return {
        "infer_img_s": {"target": TARGETS["infer_img_s"], "best": best(("infer", "infer-folded"))},
        "train_img_s": {"target": TARGETS["train_img_s"], "peak_target_gb": TARGETS["train_peak_gb"],
                        "best_within_peak": best(("train", "train-checkpointed"), TARGETS["train_peak_gb"]),
                        "best": best(("train", "train-checkpointed"))},
        "compile_s": {"target": TARGETS["compile_s"], "measured": max((r["compile_s"] for r in compiled), default=None),
                      "recompiles_after_first_call": sum(r["recompiles_after_first_call"] for r in compiled)},
        "predict_speedup_over_nnunet": {"target": 1.0, "measured": report.get("predict-volume", {}).get(
            "svseg_speedup_over_nnunet")},
    }


def run_steps(check: Check, names: list[str]) -> None:
    for name in names:
        started = time.monotonic()
        needed = NEEDS.get(name)
        if needed in check.report and not check.report[needed].get("ok", True):
            check.report[name] = {"ok": False, "skipped": f"{needed} failed"}
        else:
            try:
                check.report[name] = STEPS[name](check)
            except OutOfTime as reason:
                check.report[name] = {"ok": False, "skipped": str(reason)}
            except Exception as error:  # one broken step must not lose the others' results
                check.report[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        check.report[name]["seconds"] = round(time.monotonic() - started, 1)
        print(f"gpu_check: {name} {'ok' if check.report[name].get('ok', True) else 'NOT ok'} "
              f"({check.report[name]['seconds']} s, {check.left():.0f} s left)", file=sys.stderr, flush=True)
        check.save()


def install_wheels(folder: Path, site: Path) -> None:
    """pip-install the carried wheels into `site` (no index, no dependencies: the machine has the rest)."""
    wheels = sorted(str(p) for p in folder.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"gpu_check: no wheels in {folder} (run benchmarks/gpu_wheels.sh where PyPI is reachable)")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--upgrade", "--target", str(site), *wheels], check=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--small", action="store_true", help="tiny sizes (CI on a CPU)")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_check_out")))
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new one in /tmp)")
    parser.add_argument("--budget-s", type=float, default=470.0, help="wall-clock budget of all steps")
    parser.add_argument("--demo-minutes", type=float, default=1.5, help="svseg demo --minutes on the GPU")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}")
    parser.add_argument("--wheels", type=Path, default=None, help="install these wheels into --site first")
    parser.add_argument("--site", type=Path, default=Path("/tmp/svseg_site"))
    parser.add_argument("--install-only", action="store_true", help="only install --wheels")
    args = parser.parse_args(argv)
    unknown = set(args.steps.split(",")) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    if args.wheels is not None:
        install_wheels(args.wheels, args.site)
        if args.install_only:
            return 0
    path = [str(p) for p in (args.site, REPO) if p.is_dir()] + [os.environ.get("PYTHONPATH", "")]
    sys.path[:0] = path[:-1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p), "PYTHONUNBUFFERED": "1"}
    out = args.out.resolve()
    work = (args.work or Path(tempfile.mkdtemp(prefix="svseg_gpu_check_"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env["SVSEG_HOME"] = str(work / "demo" / "svseg_data")
    check = Check(args, Sizes.pick(args.small, args.device), work, out, env, started + args.budget_s)
    check.report["check"] = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "command": " ".join([Path(sys.executable).name, *sys.argv]),
                             "sizes": vars(check.sizes), "budget_s": args.budget_s}
    run_steps(check, args.steps.split(","))
    check.report["targets"] = targets(check.report, check.sizes.network)
    check.report["check"]["total_s"] = round(time.monotonic() - started, 1)
    check.save()
    print(json.dumps(check.report, indent=1))
    return 0 if all(step.get("ok", True) for step in check.report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
