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

from svseg.errors import SvsegError
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


# --- leftovers of killed writers (remove_stale_temporaries) -----------------------------------

_WRITER = (
    "import sys, time\n"
    "from svseg.utils.fs import atomic_directory, atomic_path\n"
    "context = atomic_directory(sys.argv[1]) if sys.argv[2] == 'dir' else atomic_path(sys.argv[1])\n"
    "with context as tmp:\n"
    "    if sys.argv[2] == 'file':\n"
    "        tmp.write_bytes(b'half a checkpoint')\n"
    "    print(tmp, flush=True)\n"
    "    time.sleep(60)\n"
)


def _start_writer(target: Path, kind: str) -> tuple[subprocess.Popen, Path]:
    """A process inside atomic_path/atomic_directory for `target`; returns it and its temporary."""
    process = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), kind], stdout=subprocess.PIPE)
    assert process.stdout is not None
    return process, Path(process.stdout.readline().decode().strip())


def _kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_leftover_of_a_killed_writer_is_removed_and_a_live_one_kept(tmp_path: Path, kind: str) -> None:
    name = "checkpoint_final.pth" if kind == "file" else "Dataset001_X"
    killed, leftover = _start_writer(tmp_path / name, kind)
    _kill(killed)
    live, writing = _start_writer(tmp_path / "mask.nii.gz", "file")
    try:
        assert leftover.exists() and writing.exists()
        assert leftover.name.startswith(f".{name}.")  # e.g. .checkpoint_final.pth.k2j4_9xq.tmp.pth
        assert fs.remove_stale_temporaries(tmp_path) == [leftover]
        assert not leftover.exists() and writing.exists()  # a live writer's temporary is left alone
    finally:
        _kill(live)
    assert fs.remove_stale_temporaries(tmp_path) == [writing]  # deterministic: no age, only the lock
    assert list(tmp_path.iterdir()) == []


def test_only_svseg_temporary_names_are_touched(tmp_path: Path) -> None:
    keep = [".hidden.txt", "a.tmp.png", ".a.png.short.tmp.png", ".b.png.ABCDEFGH.tmp.png", ".x.12345678.partialy",
            "notes.partial"]
    for name in keep:
        (tmp_path / name).write_bytes(b"user data")
    (tmp_path / ".scan.12345678.partial").write_bytes(b"a file, not an atomic_directory folder")
    keep.append(".scan.12345678.partial")
    nested = tmp_path / "validation" / ".case_1.png.abcd_123.tmp.png"
    nested.parent.mkdir()
    nested.write_bytes(b"")
    assert fs.remove_stale_temporaries(tmp_path) == []  # not recursive by default
    assert fs.remove_stale_temporaries(tmp_path, recursive=True) == [nested]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(keep)
    assert fs.remove_stale_temporaries(tmp_path / "missing") == []


# --- check_writable_dir ------------------------------------------------------------------------


def test_writable_folder_is_accepted_and_nothing_is_created(tmp_path: Path) -> None:
    assert fs.check_writable_dir(tmp_path / "a" / "b", "output") == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_is_refused_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("a regular file")
    with pytest.raises(SvsegError) as info:
        fs.check_writable_dir(blocker / "Dataset001_X" / "fold_0", "fold results")
    assert str(info.value) == (f"{blocker / 'Dataset001_X' / 'fold_0'}: cannot create the fold results folder: "
                               f"{blocker} is a file, not a folder")
    with pytest.raises(SvsegError, match="is a file, not a folder; the output must be a folder"):
        fs.check_writable_dir(blocker, "output")


def test_a_folder_without_write_permission_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root: permission bits do not stop writes, and os.access says so
            pytest.skip("running as root: a read-only mode does not stop root's writes, so nothing to refuse")
        with pytest.raises(SvsegError) as info:
            fs.check_writable_dir(locked / "masks", "output")
        assert str(info.value).startswith(f"{locked / 'masks'}: the output folder is not writable (its parent "
                                          f"{locked} is not writable)")
    finally:
        locked.chmod(0o700)


def test_check_output_dir_also_clears_leftovers(tmp_path: Path) -> None:
    (tmp_path / ".a.png.abcd1234.tmp.png").write_bytes(b"")
    (tmp_path / "a.png").write_bytes(b"mask")
    assert fs.check_output_dir(tmp_path, "output") == tmp_path
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_atomic_outputs_get_the_umask_mode_not_tempfiles_private_one(tmp_path: Path) -> None:
    """A mask or plans file in a shared data root must be readable by the group, as plain open() makes it."""
    import os

    from svseg.utils.fs import atomic_directory, atomic_write_text

    previous = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "plans.json", "{}")
        with atomic_directory(tmp_path / "Dataset001_X") as folder:
            (folder / "dataset.json").write_text("{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "plans.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "Dataset001_X").stat().st_mode & 0o777 == 0o755
