"""benchmarks/gpu_check.py at tiny sizes on the CPU: the GPU check stays runnable between GPU loans.

It runs exactly ``python benchmarks/gpu_check.py --device cpu --small``: every step of the GPU run
(the demo, planning the check preset, svseg train, svseg predict, the predictor comparison, eager and
compiled timings) on svanet_tiny at 64 x 64 with a 7-case demo, so a change that breaks the check,
or one of the commands it drives, fails here rather than on a lent GPU, where a failed run costs
the lease. Timings on the CPU mean nothing; the test checks that every step ran and reported.
Slow (several minutes on two cores): run it with ``pytest -m slow tests/benchmarks`` before a GPU loan.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
STEPS = ["environment", "demo", "plan", "speed-eager", "train", "predict", "predict-volume", "speed-compiled"]


@pytest.mark.slow  # a demo, a plan, two trainings and timings: several minutes on two cores
def test_gpu_check_runs_every_step_on_the_cpu_at_tiny_sizes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--small", "--out", str(out),
                          "--work", str(tmp_path / "work"), "--budget-s", "900"],
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:] + (out / "gpu_check.log").read_text()[-3000:]
    report = json.loads((out / "gpu_check.json").read_text(encoding="utf-8"))
    assert json.loads(run.stdout) == report
    assert [step for step in STEPS if report[step]["ok"]] == STEPS
    assert report["plan"]["patch_size"] == [64, 64]
    assert report["train"]["checkpoint"] and report["predict"]["masks_written"] >= 1

    rows = report["speed-eager"]["results"] + report["speed-compiled"]["results"]
    measured = {(r["network"], r["phase"], r["compile"], r["channels_last"]) for r in rows if r["img_s"] > 0}
    for phase in ("infer", "infer-folded", "train", "train-checkpointed"):
        assert ("svanet_tiny", phase, False, False) in measured
    assert {("unet", "infer", False, False), ("unet", "train", False, False)} <= measured
    assert ("unet", "infer", True, False) in measured
    assert any(key[:3] == ("svanet_tiny", "infer", True) for key in measured)  # compiled, in the faster layout
    compiled = [r for r in rows if r["compile"]]
    assert all(r["graphs"] == 1 and r["recompiles_after_first_call"] == 0 for r in compiled)

    volume = {r["predictor"]: r for r in report["predict-volume"]["results"]}
    assert volume["svseg"]["slices"] == volume["nnunet"]["slices"] == 4
    assert report["targets"]["infer_img_s"]["best"]["img_s"] > 0
