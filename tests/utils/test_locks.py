"""The run lock (svseg/utils/locks.py): refused while a live process holds it, taken over when it is gone."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from svseg.errors import SvsegError
from svseg.utils.locks import read_owner, run_lock

_HOLDER = (
    "import os, sys, time\n"
    "from svseg.utils.locks import run_lock\n"
    "with run_lock(sys.argv[1], 'svseg train -d X -f 0'):\n"
    "    child = os.fork() if sys.argv[2] == 'fork' else -1\n"
    "    if child == 0:\n"
    "        time.sleep(60)\n"  # a child like nnU-Net's augmentation workers, outliving its parent
    "        os._exit(0)\n"
    "    print('held', child, flush=True)\n"
    "    time.sleep(60)\n"
)


def _hold(path: Path, mode: str = "plain") -> tuple[subprocess.Popen, int]:
    """A process holding the lock `path`; with mode 'fork' it has forked a child (returned, else -1)."""
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), mode], stdout=subprocess.PIPE)
    assert process.stdout is not None
    word, child = process.stdout.readline().split()
    assert word == b"held"
    return process, int(child)


def _kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def test_a_live_owner_refuses_a_second_run_then_a_killed_one_is_taken_over(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "model" / ".train_fold_0.lock"
    holder, _ = _hold(path)
    try:
        with pytest.raises(SvsegError) as info:
            with run_lock(path, "svseg train -d X -f 0"):
                pass
        message = str(info.value)
        assert message.startswith(f"{path}: svseg train -d X -f 0 is already running (pid {holder.pid} on "
                                  f"{socket.gethostname()}, since ")
        assert "\n" not in message
        assert read_owner(path).pid == holder.pid  # the refused run left the owner's record alone
    finally:
        _kill(holder)
    assert path.exists()  # kill -9: no clean-up ran, but the kernel dropped the lock
    with caplog.at_level(logging.WARNING, logger="svseg.utils.locks"), run_lock(path, "svseg train -d X -f 0") as me:
        assert read_owner(path) == me and me.pid == os.getpid()
    assert f"taking over the lock of svseg train -d X -f 0 (pid {holder.pid} on" in caplog.text
    assert "no longer running" in caplog.text
    assert not path.exists() and path.parent.is_dir()  # released; the folder the killed run made stays


def test_workers_forked_by_a_killed_owner_do_not_keep_the_lock(tmp_path: Path) -> None:
    path = tmp_path / ".train_fold_0.lock"
    holder, child = _hold(path, "fork")
    _kill(holder)  # its forked child lives on, holding the file open
    try:
        os.kill(child, 0)  # still running
        with run_lock(path, "svseg train -d X -f 0"):
            pass
    finally:
        os.kill(child, signal.SIGKILL)


def test_a_stale_record_with_a_dead_pid_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / ".plan-and-preprocess.lock"
    pid = _dead_pid()
    record = {"pid": pid, "host": socket.gethostname(), "started": 1.0e9, "command": "svseg plan-and-preprocess"}
    path.write_text(json.dumps(record))
    with caplog.at_level(logging.WARNING, logger="svseg.utils.locks"), run_lock(path, "svseg plan-and-preprocess"):
        assert read_owner(path).pid == os.getpid()
    assert f"(pid {pid} on {socket.gethostname()}, since 2001-09-" in caplog.text
    assert not path.exists()


def test_a_lock_left_on_another_host_is_refused_with_how_to_remove_it(tmp_path: Path) -> None:
    path = tmp_path / ".train_fold_1.lock"
    path.write_text(json.dumps({"pid": 1, "host": "gpu-node-7", "started": 1.7e9, "command": "svseg train -f 1"}))
    with pytest.raises(SvsegError) as info:
        with run_lock(path, "svseg train -f 1"):
            pass
    assert str(info.value).startswith(f"{path}: left by svseg train -f 1 (pid 1 on gpu-node-7, since ")
    assert f"if that run has ended, delete the file (rm '{path}') and run again" in str(info.value)
    assert read_owner(path).host == "gpu-node-7"  # not removed by the refusal


def test_released_on_an_error_and_refused_twice_in_one_process(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "x.lock"
    with pytest.raises(RuntimeError), run_lock(path, "svseg train"):
        assert path.is_file()
        raise RuntimeError("training crashed")
    assert not (tmp_path / "a").exists()
    with run_lock(path, "svseg train"):
        with pytest.raises(SvsegError, match=f"already held by this process \\(pid {os.getpid()}\\)"):
            with run_lock(path, "svseg train"):
                pass
        assert path.is_file()  # the refused second attempt did not release the first
    assert not path.exists()


def test_an_empty_or_foreign_lock_file_is_simply_taken(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    for content in (b"", b"not json", b'{"pid": "x"}'):
        path.write_bytes(content)
        with run_lock(path, "svseg train"):
            assert read_owner(path).pid == os.getpid()
