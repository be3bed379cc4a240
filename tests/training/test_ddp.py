"""The distributed launch checks and hooks, without starting a job (real ranks: test_ddp_runs.py)."""

from __future__ import annotations

import os
import pickle
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn
from typer.testing import CliRunner

from svseg.cli import app
from svseg.errors import SvsegError
from svseg.training import ddp
from svseg.training.device import configure_threads, configure_workers, scoped_settings
from svseg.training.distributed_hooks import launcher_device, unwrap_ddp, wrap_for_ddp
from svseg.training.job import TrainingJob


def test_torchrun_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(variable, raising=False)
    assert ddp.torchrun_rank() is None
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert ddp.torchrun_rank() == ddp.TorchrunRank(5, 1, 8)
    monkeypatch.setenv("WORLD_SIZE", "four")
    with pytest.raises(SvsegError, match="torchrun"):
        ddp.torchrun_rank()


def test_ddp_needs_a_gpu_per_local_rank_and_a_big_enough_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    ddp.check_ddp_request(torch.device("cuda"), 2, 4)
    # a second machine: global rank 5 is local rank 1 there and binds that machine's GPU 1
    ddp.check_ddp_request(torch.device("cuda"), 8, 8, local_rank=1)
    with pytest.raises(SvsegError, match="local rank 2 needs GPU 2 but 2 visible"):
        ddp.check_ddp_request(torch.device("cuda"), 8, 8, local_rank=2)
    with pytest.raises(SvsegError, match="4 GPUs requested but 2 visible"):
        ddp.check_ddp_request(torch.device("cuda"), 4, 4)
    with pytest.raises(SvsegError, match="batch size 1 is smaller than the 2 GPUs"):
        ddp.check_ddp_request(torch.device("cuda"), 2, 1)


def test_ddp_runs_on_the_cpu_but_not_on_mps() -> None:
    ddp.check_ddp_request(torch.device("cpu"), 2, 2, local_rank=1)
    with pytest.raises(SvsegError, match="batch size 3 is smaller than the 4 CPU processes"):
        ddp.check_ddp_request(torch.device("cpu"), 4, 3, local_rank=0)
    with pytest.raises(SvsegError, match="not on mps"):
        ddp.check_ddp_request(torch.device("mps"), 2, 2)
    assert ddp.backend_for(torch.device("cpu")) == "gloo"
    assert ddp.backend_for(torch.device("cuda", 1)) == "nccl"


def test_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ddp.TIMEOUT_ENV, raising=False)
    assert ddp.ddp_timeout() == timedelta(minutes=30)
    monkeypatch.setenv(ddp.TIMEOUT_ENV, "90")
    assert ddp.ddp_timeout() == timedelta(seconds=90)
    for bad in ("0", "-5", "soon"):
        monkeypatch.setenv(ddp.TIMEOUT_ENV, bad)
        with pytest.raises(SvsegError, match=ddp.TIMEOUT_ENV):
            ddp.ddp_timeout()


def test_peer_failures_are_told_apart_from_bugs() -> None:
    gloo = RuntimeError("[third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:8366: "
                        "Connection reset by peer.")
    assert ddp.is_peer_failure(gloo)
    assert ddp.is_peer_failure(RuntimeError("Timed out waiting 60000ms for recv operation to complete"))
    assert not ddp.is_peer_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"))


def _job(**changes: object) -> TrainingJob:
    fields = {"plans": {"svseg": {"recipe": {"lr": 0.01}}}, "configuration": "2d", "fold": 0,
              "dataset_json": {"labels": {}}, **changes}
    return TrainingJob(**fields)  # type: ignore[arg-type]


def test_ranks_must_agree_on_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rank that sees another checkpoint (SVSEG_HOME not shared) stops the job with one line."""
    mine = _job(resume_checkpoint="/mnt/a/fold_0/checkpoint_latest.pth")
    # another machine mounting the shared folder elsewhere agrees: names are compared, not paths
    assert ddp.job_identity(mine) == ddp.job_identity(_job(resume_checkpoint="/b/fold_0/checkpoint_latest.pth"))
    others = [ddp.job_identity(mine), ddp.job_identity(_job())]
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(dist, "all_gather_object", lambda out, _obj: out.__setitem__(slice(None), others))
    with pytest.raises(SvsegError, match=r"checkpoint \(checkpoint_latest.pth on rank 0, None on rank 1\).*SVSEG_HOME"):
        ddp.check_same_job(mine)
    other_plans = {"svseg": {"recipe": {"lr": 0.02}}}
    others[1] = ddp.job_identity(_job(plans=other_plans, resume_checkpoint="x/checkpoint_latest.pth"))
    with pytest.raises(SvsegError, match=r"plans \("):
        ddp.check_same_job(mine)


def test_each_rank_binds_the_gpu_of_its_local_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert launcher_device(torch.device("cuda")) == torch.device("cuda", 3)
    assert launcher_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert launcher_device(torch.device("cpu")) == torch.device("cpu")


def test_ranks_on_one_machine_share_its_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.delenv("nnUNet_n_proc_DA", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with scoped_settings():
        configure_threads(torch.device("cpu"))
        assert torch.get_num_threads() == 4
        assert configure_workers(torch.device("cuda")) == 3  # (8 cores - 2 ranks) // 2 ranks


@pytest.mark.parametrize(("exported", "expected"), [("3", 3), ("0", 4), ("two", 4), ("", 4)])
def test_an_exported_thread_count_wins_when_it_is_a_positive_integer(
    monkeypatch: pytest.MonkeyPatch, exported: str, expected: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", exported)
    with scoped_settings():
        configure_threads(torch.device("cpu"))
        assert torch.get_num_threads() == expected


@pytest.fixture
def one_rank_gloo_group(tmp_path: Path) -> object:
    """A real gloo process group of one rank (what DDP needs to be constructed)."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    yield dist.group.WORLD
    dist.destroy_process_group()


def test_cpu_ddp_keeps_batchnorm_and_trains(one_rank_gloo_group: object) -> None:
    """gloo has no SyncBatchNorm (its forward refuses CPU tensors): the CPU wrap must not convert."""
    network = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))
    wrapped = wrap_for_ddp(network, torch.device("cpu"))
    assert isinstance(wrapped, nn.parallel.DistributedDataParallel) and wrapped.device_ids is None
    assert unwrap_ddp(wrapped) is network
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in wrapped.modules())
    wrapped.train()
    wrapped(torch.randn(2, 1, 8, 8)).sum().backward()
    assert network[0].weight.grad is not None
    with pytest.raises(ValueError, match="SyncBatchNorm expected input tensor to be on GPU"):
        nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(1)))(torch.randn(2, 1, 4, 4))


def test_job_and_worker_can_be_sent_to_spawned_processes() -> None:
    job = TrainingJob(plans={"svseg": {}}, configuration="2d", fold="all", dataset_json={"labels": {}})
    assert pickle.loads(pickle.dumps(job)) == job
    assert pickle.loads(pickle.dumps(ddp._ddp_worker)) is ddp._ddp_worker
    assert 0 < ddp.free_port() < 65536


def _torchrun_env(monkeypatch: pytest.MonkeyPatch, rank: int, local_rank: int, world_size: int) -> None:
    for name, value in (("RANK", rank), ("LOCAL_RANK", local_rank), ("WORLD_SIZE", world_size)):
        monkeypatch.setenv(name, str(value))


def _results_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "results").rglob("*") if p.is_file())


def test_a_batch_smaller_than_the_world_is_one_line_before_any_work(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank 1 of 3 on a second machine (local rank 0), batch 2: refused before any process group or file."""
    _torchrun_env(monkeypatch, rank=1, local_rank=0, world_size=3)
    result = CliRunner().invoke(app, ["train", "-d", "Disks", "-f", "0", "--device", "cpu", "--batch-size", "2"])
    assert result.exit_code == 2, result.output
    assert "batch size 2 is smaller than the 3 CPU processes" in result.output.replace("\n", "")
    assert len(result.output.strip().splitlines()) == 1
    assert not dist.is_initialized() and _results_files(data_root) == []


def test_num_gpus_on_the_cpu_points_at_torchrun(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(variable, raising=False)
    result = CliRunner().invoke(app, ["train", "-d", "Disks", "-f", "0", "--device", "cpu", "--num-gpus", "2"])
    assert result.exit_code == 2
    assert "torchrun --nproc-per-node 2" in result.output.replace("\n", "")
    assert _results_files(data_root) == []
