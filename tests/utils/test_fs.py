"""Atomic writes (svseg/utils/fs.py): a killed writer leaves the old file intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from svseg.utils import fs


def test_json_round_trip_and_no_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "plans.json"
    fs.atomic_write_json(target, {"a": 1, "b": [1.5, 2]})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 1, "b": [1.5, 2]}
    assert [p.name for p in target.parent.iterdir()] == ["plans.json"]


def test_error_inside_block_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), fs.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer crashed")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_temporary_name_keeps_the_format_ending(tmp_path: Path) -> None:
    with fs.atomic_path(tmp_path / "mask.nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz")
        tmp.write_bytes(b"x")


def test_killed_writer_leaves_previous_file(tmp_path: Path) -> None:
    """A process killed in the middle of a large write must not corrupt the target."""
    target = tmp_path / "checkpoint.bin"
    target.write_bytes(b"previous")
    script = (
        "import sys, time\n"
        "from svseg.utils.fs import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    with open(tmp, 'wb') as handle:\n"
        "        handle.write(b'partial' * 1000)\n"
        "        handle.flush()\n"
        "        print('writing', flush=True)\n"
        "        time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"writing"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    time.sleep(0.1)
    assert target.read_bytes() == b"previous"


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "Dataset001_X"
    with pytest.raises(ValueError), fs.atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("1")
        raise ValueError("validation failed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with fs.atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("1")
    assert (target / "a.txt").read_text(encoding="utf-8") == "1"
