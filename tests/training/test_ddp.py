"""The DDP launch checks (no GPUs here: the distributed run itself is nnU-Net's code path)."""

from __future__ import annotations

import pickle

import pytest
import torch

from svseg.errors import SvsegError
from svseg.training import ddp
from svseg.training.job import TrainingJob


def test_torchrun_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(variable, raising=False)
    assert ddp.torchrun_rank() is None
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert ddp.torchrun_rank() == ddp.TorchrunRank(1, 1, 4)
    monkeypatch.setenv("WORLD_SIZE", "four")
    with pytest.raises(SvsegError, match="torchrun"):
        ddp.torchrun_rank()


def test_a_job_spanning_machines_is_refused() -> None:
    ddp.check_single_node(ddp.TorchrunRank(3, 3, 4))
    with pytest.raises(SvsegError, match="one machine per job"):
        ddp.check_single_node(ddp.TorchrunRank(4, 0, 8))


def test_ddp_needs_cuda_enough_gpus_and_a_big_enough_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SvsegError, match="CUDA"):
        ddp.check_ddp_request(torch.device("cpu"), 2, 4)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    ddp.check_ddp_request(torch.device("cuda"), 2, 4)
    with pytest.raises(SvsegError, match="visible"):
        ddp.check_ddp_request(torch.device("cuda"), 4, 4)
    with pytest.raises(SvsegError, match="smaller than"):
        ddp.check_ddp_request(torch.device("cuda"), 2, 1)


def test_job_and_worker_can_be_sent_to_spawned_processes() -> None:
    job = TrainingJob(plans={"svseg": {}}, configuration="2d", fold="all", dataset_json={"labels": {}})
    assert pickle.loads(pickle.dumps(job)) == job
    assert pickle.loads(pickle.dumps(ddp._ddp_worker)) is ddp._ddp_worker
    assert 0 < ddp.free_port() < 65536
