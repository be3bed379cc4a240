"""Real distributed training on the CPU: torchrun ranks joined by gloo, as in CI and on a laptop.

Each test launches ``python -m torch.distributed.run ... -m svseg.cli train`` on the tiny PNG
dataset of conftest.py (a shrunk U-Net, 64 x 64 patches, 2-3 iterations). Who wrote what under
SVSEG_HOME is observed from outside svseg: a ``sitecustomize`` on the ranks' PYTHONPATH installs
a Python audit hook that logs every file opened for writing, renamed, copied, removed or folder
made under the data root, with the process's ``RANK`` (inherited by nnU-Net's export workers).
Files written by C code (SimpleITK) would escape it; the PNG dataset is written by Python.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from svseg.training.checkpoints import CHECKPOINT_FINAL, CHECKPOINT_LATEST
from svseg.training.ddp import free_port

pytestmark = pytest.mark.skipif(sys.platform != "linux" or not torch.distributed.is_available(),
                                reason="torchrun ranks are found through /proc; gloo needed")

FOLD = Path("results/Dataset811_Disks/SvsegTrainer__svsegPlans__2d/fold_0")
TRAIN = ["-m", "svseg.cli", "train", "-d", "Disks", "-f", "0", "--device", "cpu"]

AUDIT_SITE = '''
import os, sys
_root, _out = os.environ.get("AUDIT_ROOT"), os.environ.get("AUDIT_OUT")
if _root and _out:
    _root = os.path.realpath(_root)
    _fd = os.open(os.path.join(_out, f"{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    _rank, _busy = os.environ.get("RANK", "-"), [False]
    _WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    _EVENTS = {"open": 0, "os.rename": 1, "shutil.copyfile": 1, "os.remove": 0, "os.mkdir": 0}

    def _hook(event, args):
        if _busy[0] or event not in _EVENTS:
            return
        if event == "open" and not ((args[1] and any(c in args[1] for c in "wax+")) or (args[2] or 0) & _WRITE):
            return
        _busy[0] = True
        try:
            path = args[_EVENTS[event]]
            if not isinstance(path, int):
                path = os.path.realpath(os.fsdecode(path))
                if path.startswith(_root + os.sep):
                    os.write(_fd, f"{_rank}\\t{event}\\t{path}\\n".encode())
        finally:
            _busy[0] = False

    sys.addaudithook(_hook)
'''


def rank_env(home: Path, audit: Path, **extra: str) -> dict[str, str]:
    """A fresh environment for one launch: the data root, the audit hook, small process pools."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("nnUNet_", "SVSEG_", "RANK", "LOCAL_", "WORLD_", "MASTER_", "TORCHELASTIC"))}
    site = audit.parent / "audit_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(AUDIT_SITE)
    audit.mkdir(exist_ok=True)
    env.update(SVSEG_HOME=str(home), SVSEG_QUIET="1", nnUNet_def_n_proc="1", OMP_NUM_THREADS="1",
               PYTHONPATH=str(site), AUDIT_ROOT=str(home), AUDIT_OUT=str(audit), SVSEG_DDP_TIMEOUT="60", **extra)
    return env


def torchrun(launch: list[str], args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    """Start ``torchrun LAUNCH -m svseg.cli train ... ARGS`` (stdout and stderr together)."""
    command = [sys.executable, "-m", "torch.distributed.run", *launch, *TRAIN, *args]
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output


def writes_by_rank(audit: Path) -> dict[str, list[tuple[str, str]]]:
    """Every write under the data root, grouped by the writer's RANK."""
    writes: dict[str, list[tuple[str, str]]] = {}
    for log in audit.glob("*.log"):
        for line in log.read_text().splitlines():
            rank, event, path = line.split("\t")
            writes.setdefault(rank, []).append((event, path))
    return writes


def assert_only_rank_0_wrote(audit: Path, home: Path) -> None:
    """Rank 0 wrote the model; any other rank at most made sure the fold folder exists (nnU-Net's constructor)."""
    writes = writes_by_rank(audit)
    fold = str((home / FOLD).resolve())
    assert any(path.endswith(CHECKPOINT_FINAL) for _, path in writes["0"])
    others = {(event, path) for rank, events in writes.items() if rank != "0" for event, path in events}
    assert others <= {("os.mkdir", fold)}, sorted(others)


def use_sgd(home: Path) -> None:
    """nnU-Net's SGD in the test's plans: an update linear in the gradient, unlike AdamW's first step.

    AdamW moves every weight by about +-lr on its first step whatever the gradient's size, so a
    rounding-level difference in a near-zero gradient (the conv biases before InstanceNorm) flips
    a whole step; SGD keeps a float-level difference float-level.
    """
    plans = home / "preprocessed" / "Dataset811_Disks" / "svsegPlans.json"
    content = json.loads(plans.read_text())
    content["svseg"]["recipe"].update(optimizer="sgd", lr=0.01, momentum=0.99, nesterov=True, lr_schedule="poly")
    plans.write_text(json.dumps(content))


def replay_single_process(home: Path, traces: list[dict], root_switch) -> dict[str, torch.Tensor]:
    """The same steps in one process on the concatenated global batches, from the same initial weights."""
    from svseg.training.job import TrainingJob, build_trainer
    from svseg.training.network_from_plans import unwrap_network

    record = json.loads((home / FOLD / "svseg_run.json").read_text())
    dataset_json = json.loads((home / "preprocessed" / "Dataset811_Disks" / "dataset.json").read_text())
    job = TrainingJob(plans=record["plans"], configuration=record["configuration"], fold=0, dataset_json=dataset_json)
    with root_switch(home):
        trainer = build_trainer(job, torch.device("cpu"))
        unwrap_network(trainer.network).load_state_dict(traces[0]["initial"])
        trainer.on_train_epoch_start()
        for steps in zip(*(trace["batches"] for trace in traces), strict=True):
            targets = zip(*(step["target"] for step in steps), strict=True)
            trainer.train_step({"data": torch.cat([step["data"] for step in steps]),
                                "target": [torch.cat(parts) for parts in targets]})
        trainer.stop_progress()
    return {key: value.detach().clone() for key, value in unwrap_network(trainer.network).state_dict().items()}


def test_two_ranks_train_as_one_process_on_the_global_batch(data_root: Path, tmp_path: Path, root_switch) -> None:
    """Two gloo ranks: identical weights on both, equal to one process on the same 4-case batches; rank 0 writes."""
    use_sgd(data_root)
    env = rank_env(data_root, tmp_path / "audit", SVSEG_DDP_TRACE=str(tmp_path / "trace"))
    finish(torchrun(["--standalone", "--nproc-per-node", "2"], ["--epochs", "1", "--iters-per-epoch", "3"], env))
    traces = [torch.load(tmp_path / "trace" / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert [len(trace["batches"]) for trace in traces] == [3, 3]
    assert all(step["data"].shape[0] == 2 for trace in traces for step in trace["batches"])  # 4 split in 2 + 2
    saved = torch.load(data_root / FOLD / CHECKPOINT_FINAL, weights_only=True)["network_weights"]
    for key, value in saved.items():
        assert torch.equal(traces[0]["final"][key], value) and torch.equal(traces[1]["final"][key], value), key
    replayed = replay_single_process(data_root, traces, root_switch)
    moved = max((traces[0]["final"][k] - traces[0]["initial"][k]).abs().max().item() for k in saved)
    apart = max((replayed[k] - traces[0]["final"][k]).abs().max().item() for k in saved)
    assert moved > 1e-4 and apart < 1e-6 + 1e-3 * moved, (moved, apart)
    assert_only_rank_0_wrote(tmp_path / "audit", data_root)


def test_two_machines_meet_at_one_endpoint(data_root: Path, tmp_path: Path) -> None:
    """Two torchrun launches (--nnodes 2, one process each, separate environments and folders) make one model."""
    endpoint = f"127.0.0.1:{free_port()}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    launches = []
    for node, cwd in ((0, None), (1, elsewhere)):
        launch = ["--nnodes", "2", "--node-rank", str(node), "--nproc-per-node", "1",
                  "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint]
        env = rank_env(data_root, tmp_path / "audit")
        launches.append(torchrun(launch, ["--epochs", "1", "--iters-per-epoch", "2"], env, cwd))
    outputs = [finish(process) for process in launches]
    assert "rank 1 of 2 (local rank 0)" in outputs[1].replace("\n", " ")
    fold = data_root / FOLD
    assert (fold / CHECKPOINT_FINAL).is_file() and len(list(fold.glob("training_log_*.txt"))) == 1
    assert sorted(p.name for p in (data_root / "results" / "Dataset811_Disks").iterdir()) == [FOLD.parent.name]
    assert_only_rank_0_wrote(tmp_path / "audit", data_root)


def _rank_pid(torchrun_pid: int, rank: int, deadline: float) -> int:
    """The pid of the worker with RANK=`rank` among torchrun's children."""
    while time.monotonic() < deadline:
        children = Path(f"/proc/{torchrun_pid}/task/{torchrun_pid}/children").read_text().split()
        for pid in children:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if f"RANK={rank}".encode() in environ:
                return int(pid)
        time.sleep(0.2)
    raise AssertionError(f"no worker with RANK={rank}")


def test_a_killed_rank_stops_the_job_and_continue_resumes(data_root: Path, tmp_path: Path) -> None:
    """SIGKILL rank 1 after the first checkpoint: the job ends within a bound, --continue finishes it."""
    env = rank_env(data_root, tmp_path / "audit")
    launch = ["--standalone", "--nproc-per-node", "2"]
    process = torchrun(launch, ["--epochs", "40", "--iters-per-epoch", "2"], env)
    latest, deadline = data_root / FOLD / CHECKPOINT_LATEST, time.monotonic() + 240
    while not latest.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert latest.is_file(), process.communicate(timeout=60)[0][-4000:]
    os.kill(_rank_pid(process.pid, 1, deadline), signal.SIGKILL)
    killed_at, killed_wall = time.monotonic(), time.time()
    output, _ = process.communicate(timeout=120)
    assert time.monotonic() - killed_at < 60
    assert process.returncode != 0 and not (data_root / FOLD / CHECKPOINT_FINAL).exists()
    assert "rank      : 1 (local_rank: 1)" in output and "SIGKILL" in output, output[-4000:]

    done = torch.load(latest, weights_only=True)["current_epoch"]
    assert 1 <= done < 40
    finish(torchrun(launch, ["--continue", "--epochs", str(done + 1), "--iters-per-epoch", "2"], env))
    final = torch.load(data_root / FOLD / CHECKPOINT_FINAL, weights_only=True)
    assert final["current_epoch"] == done + 1
    starts = final["logging"]["epoch_start_timestamps"]  # the epochs before the kill come from the checkpoint
    assert len(starts) == done + 1 and starts[done - 1] < killed_wall < starts[done]
