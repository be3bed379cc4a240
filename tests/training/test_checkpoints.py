"""Checkpoints: nnU-Net's keys, weights-only loadable, written atomically, restored completely."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from nnunetv2.training.logging.nnunet_logger import MetaLogger
from torch import nn

from svseg.errors import SvsegError
from svseg.training.checkpoints import AtomicCheckpointHooks, find_resume_checkpoint, read_checkpoint, to_plain

NNUNET_KEYS = {"network_weights", "optimizer_state", "grad_scaler_state", "logging", "_best_ema", "current_epoch",
               "init_args", "trainer_name", "inference_allowed_mirroring_axes"}


class FakeTrainer(AtomicCheckpointHooks):
    """Just the attributes of nnU-Net's trainer that checkpointing touches."""

    def __init__(self, folder: Path, seed: int) -> None:
        torch.manual_seed(seed)
        self.local_rank = 0
        self.disable_checkpointing = False
        self.was_initialized = True
        self.device = torch.device("cpu")
        self.network = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=1e-3)
        self.grad_scaler = None
        self.logger = MetaLogger(str(folder), False)
        self._best_ema = None
        self.current_epoch = 0
        self.my_init_kwargs = {"plans": {"a": [1, 2]}, "configuration": "2d", "fold": 0, "dataset_json": {},
                               "device": torch.device("cpu")}
        self.inference_allowed_mirroring_axes = (0, 1)
        self.messages: list[str] = []

    def print_to_log_file(self, *args: object, **kwargs: object) -> None:
        self.messages.append(" ".join(map(str, args)))

    def train_one_epoch(self) -> None:
        self.network(torch.randn(2, 1, 8, 8)).mean().backward()
        self.optimizer.step()
        # nnU-Net logs numpy scalars, which the weights-only unpickler rejects
        for key, value in (("train_losses", np.float32(0.5)), ("val_losses", np.float64(0.4)),
                           ("mean_fg_dice", np.float64(0.7)), ("dice_per_class_or_region", [np.float32(0.7)]),
                           ("lrs", 1e-3), ("epoch_start_timestamps", 1.0), ("epoch_end_timestamps", 2.0)):
            self.logger.log(key, value, self.current_epoch)
        self._best_ema = self.logger.get_value("ema_fg_dice", step=-1)


def test_to_plain_turns_numpy_into_python() -> None:
    plain = to_plain({"a": np.float32(1.5), "b": [np.int64(2), (np.float64(3.0),)], "c": np.arange(2)})
    assert plain == {"a": 1.5, "b": [2, (3.0,)], "c": [0, 1]}
    assert type(plain["a"]) is float and type(plain["b"][0]) is int


def test_checkpoint_has_nnunets_layout_and_loads_weights_only(tmp_path: Path) -> None:
    trainer = FakeTrainer(tmp_path, seed=0)
    trainer.train_one_epoch()
    trainer.save_checkpoint(str(tmp_path / "checkpoint_latest.pth"))
    checkpoint = torch.load(tmp_path / "checkpoint_latest.pth", weights_only=True)
    assert set(checkpoint) == NNUNET_KEYS
    assert checkpoint["trainer_name"] == "FakeTrainer" and checkpoint["current_epoch"] == 1
    assert checkpoint["init_args"]["configuration"] == "2d"
    assert checkpoint["inference_allowed_mirroring_axes"] == (0, 1)


def test_save_never_writes_the_final_name_directly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    targets: list[str] = []
    real_save = torch.save

    def recording_save(obj: object, target: object, *args: object, **kwargs: object) -> None:
        targets.append(str(target))
        real_save(obj, target, *args, **kwargs)

    monkeypatch.setattr(torch, "save", recording_save)
    trainer = FakeTrainer(tmp_path, seed=0)
    trainer.train_one_epoch()
    trainer.save_checkpoint(str(tmp_path / "checkpoint_best.pth"))
    assert targets and all(Path(t).name != "checkpoint_best.pth" for t in targets)
    assert (tmp_path / "checkpoint_best.pth").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_best.pth"]


def test_load_restores_weights_optimizer_logger_and_epoch(tmp_path: Path) -> None:
    source = FakeTrainer(tmp_path, seed=0)
    source.train_one_epoch()
    source.current_epoch = 6
    source.save_checkpoint(str(tmp_path / "c.pth"))
    target = FakeTrainer(tmp_path, seed=1)
    target.load_checkpoint(str(tmp_path / "c.pth"))
    for a, b in zip(source.network.state_dict().values(), target.network.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert target.current_epoch == 7
    moments = [t.optimizer.state_dict()["state"][0]["exp_avg"] for t in (source, target)]
    assert moments[0].equal(moments[1])
    assert target.logger.get_value("train_losses", None) == [0.5]
    assert target._best_ema == pytest.approx(0.7)


def test_disabled_checkpointing_and_other_ranks_write_nothing(tmp_path: Path) -> None:
    trainer = FakeTrainer(tmp_path, seed=0)
    trainer.local_rank = 1
    trainer.save_checkpoint(str(tmp_path / "a.pth"))
    trainer.local_rank, trainer.disable_checkpointing = 0, True
    trainer.save_checkpoint(str(tmp_path / "b.pth"))
    assert not list(tmp_path.glob("*.pth")) and trainer.messages


def test_unreadable_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(SvsegError, match=r"broken\.pth"):
        read_checkpoint(tmp_path / "broken.pth")
    torch.save({"weights": 1}, tmp_path / "other.pth")
    with pytest.raises(SvsegError, match="network_weights"):
        read_checkpoint(tmp_path / "other.pth")


def test_resume_prefers_final_then_latest_then_best(tmp_path: Path) -> None:
    assert find_resume_checkpoint(tmp_path) is None
    for name in ("checkpoint_best.pth", "checkpoint_latest.pth", "checkpoint_final.pth"):
        (tmp_path / name).write_bytes(b"")
        assert find_resume_checkpoint(tmp_path) == tmp_path / name


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch '{self.marker}'",))


def test_a_checkpoint_that_needs_a_full_unpickle_is_refused_before_anything_is_restored(tmp_path: Path) -> None:
    source = FakeTrainer(tmp_path, seed=0)
    source.train_one_epoch()
    source.save_checkpoint(str(tmp_path / "c.pth"))
    checkpoint = torch.load(tmp_path / "c.pth", weights_only=True)
    torch.save({**checkpoint, "extra": _Payload(tmp_path / "MARKER")}, tmp_path / "hostile.pth")
    target = FakeTrainer(tmp_path, seed=1)
    before = [t.clone() for t in target.network.state_dict().values()]
    with pytest.raises(SvsegError, match=r"hostile\.pth: refused: .*posix\.system.*weights_only=False"):
        target.load_checkpoint(str(tmp_path / "hostile.pth"))
    assert not (tmp_path / "MARKER").exists()
    assert all(torch.equal(a, b) for a, b in zip(before, target.network.state_dict().values(), strict=True))


def test_weights_only_or_misfitting_checkpoints_cannot_be_resumed(tmp_path: Path) -> None:
    source = FakeTrainer(tmp_path, seed=0)
    source.train_one_epoch()
    source.save_checkpoint(str(tmp_path / "c.pth"))
    checkpoint = torch.load(tmp_path / "c.pth", weights_only=True)
    torch.save({"network_weights": checkpoint["network_weights"]}, tmp_path / "weights.pth")
    with pytest.raises(SvsegError, match=r"weights\.pth: cannot resume from it: no optimizer_state, current_epoch"):
        FakeTrainer(tmp_path, seed=1).load_checkpoint(str(tmp_path / "weights.pth"))
    wider = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)).state_dict()
    torch.save({**checkpoint, "network_weights": wider}, tmp_path / "wider.pth")
    with pytest.raises(SvsegError, match=r"wider\.pth: does not fit the network or optimizer") as info:
        FakeTrainer(tmp_path, seed=1).load_checkpoint(str(tmp_path / "wider.pth"))
    assert "\n" not in str(info.value)


def test_a_folder_named_like_a_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "checkpoint_final.pth").mkdir()
    (tmp_path / "checkpoint_latest.pth").write_bytes(b"x")
    with pytest.raises(SvsegError, match=r"checkpoint_final\.pth: is a folder"):
        find_resume_checkpoint(tmp_path)
    with pytest.raises(SvsegError, match=r"checkpoint_final\.pth: is a folder"):
        read_checkpoint(tmp_path / "checkpoint_final.pth")
