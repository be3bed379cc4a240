"""One writer per folder: the run lock of ``svseg train`` (per fold) and ``svseg plan-and-preprocess``.

Two runs writing one fold folder or one preprocessed dataset at once interleave their logs and
checkpoints, and the last writer wins. :func:`run_lock` makes the second run refuse in one line
that names the lock file and its owner.

The lock is a small JSON file (the owner's pid, host, start time and command) held with a POSIX
record lock (``fcntl.lockf``):

- the kernel drops the lock when its owner dies, even by kill -9, so a lock file whose lock is
  free was left by a run that is gone: it is taken over, with a warning naming the old owner;
- a POSIX lock, unlike ``flock``, is not inherited by forked children, so nnU-Net's augmentation
  workers orphaned by a killed run never keep a fold locked;
- a file left by a run on another machine cannot be checked from here (its pid means nothing on
  this host, and some network file systems keep locks per machine): it is refused with the
  command that removes it, to be run once that run is known to be over;
- on a file system without locks (``lockf`` fails), the record alone decides: a live pid on
  this host holds the lock, a dead one does not.

A POSIX lock is released when the process closes *any* descriptor of the file, so this module is
the only code that opens a lock file, and a second lock of the same file in one process is
refused rather than silently shared. The lock is written in place (not through
:mod:`svseg.utils.fs`'s atomic rename), because a rename would move the record away from the
locked file. Released on every exit path: the file is deleted while still locked, and the
folders created only to hold it are removed again when they are empty, so a refused run leaves
no trace.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from svseg.errors import SvsegError

try:
    import fcntl
except ImportError:  # Windows: the record alone decides
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_HELD: dict[str, LockOwner] = {}  # lock files held by this process, and the record written
_ATTEMPTS = 5  # retries when an owner releases the file while we open it


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock: process id, machine, start time (seconds since the epoch), command."""

    pid: int
    host: str
    started: float
    command: str

    def describe(self) -> str:
        """``pid 123 on host, since 2024-05-01 10:00:00``."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"pid {self.pid} on {self.host}, since {since}"


@contextmanager
def run_lock(path: Path | str, command: str) -> Iterator[LockOwner]:
    """Hold the lock file `path` for `command` (e.g. ``svseg train -d X -f 0``) during the block.

    Raises SvsegError, before anything else is written, when a live run holds it. Folders on the
    way to `path` are created and removed again on exit when still empty.
    """
    path = Path(path).absolute()
    key = str(path)
    if key in _HELD:
        raise SvsegError(f"{path}: already held by this process (pid {os.getpid()}); one {command} at a time")
    me = LockOwner(os.getpid(), socket.gethostname(), time.time(), command)
    fd, created = _acquire(path, me)
    _HELD[key] = me
    try:
        yield me
    finally:
        _HELD.pop(key, None)
        try:
            if _same_file(fd, path):
                path.unlink(missing_ok=True)
        finally:
            os.close(fd)
            _remove_empty(created)


def read_owner(path: Path | str) -> LockOwner | None:
    """The owner recorded in lock file `path` (None when absent or unreadable); for messages and tests.

    A lock this process holds is answered from memory: opening and closing the file here would
    release the POSIX lock.
    """
    path = Path(path).absolute()
    if str(path) in _HELD:
        return _HELD[str(path)]
    try:
        return _parse_owner(path.read_bytes())
    except OSError:
        return None


def _acquire(path: Path, me: LockOwner) -> tuple[int, list[Path]]:
    """Open, lock and claim `path`; returns the open descriptor and the folders created for it."""
    for _ in range(_ATTEMPTS):
        created = _make_parents(path.parent)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except FileNotFoundError:  # a parent removed by an owner releasing it: make it again
            continue
        except OSError as exc:
            _remove_empty(created)
            raise SvsegError(f"{path}: cannot create the lock file ({exc.strerror})") from None
        try:
            locking = _try_lock(fd)
            if locking is not False and not _same_file(fd, path):
                os.close(fd)  # the owner deleted this file while releasing it: open the new one
                continue
            _check_previous(path, _parse_owner(_read_all(fd)), locking, me.command)
            _write_owner(fd, me)
        except BaseException:
            os.close(fd)
            _remove_empty(created)
            raise
        return fd, created
    raise SvsegError(f"{path}: the lock kept changing hands while svseg tried to take it; run the command again")


def _try_lock(fd: int) -> bool | None:
    """True when locked, False when another process holds it, None where the file system has no locks."""
    if fcntl is None:
        return None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    except OSError:  # ENOLCK, EOPNOTSUPP: no locking on this file system
        return None
    return True


def _check_previous(path: Path, owner: LockOwner | None, locking: bool | None, command: str) -> None:
    """Refuse a live (or uncheckable) owner; warn when taking over a stale one."""
    if locking is False:
        raise SvsegError(_held_message(path, owner, command))
    if owner is None:
        return
    if owner.host != socket.gethostname():
        raise SvsegError(f"{path}: left by {owner.command} ({owner.describe()}), which svseg cannot check from "
                         f"{socket.gethostname()}; if that run has ended, delete the file (rm '{path}') and run again")
    if locking is None and _pid_alive(owner.pid):
        raise SvsegError(_held_message(path, owner, command))
    state = "no longer running" if not _pid_alive(owner.pid) else "no longer holding it"
    log.warning("%s: taking over the lock of %s (%s, %s)", path, owner.command, owner.describe(), state)


def _held_message(path: Path, owner: LockOwner | None, command: str) -> str:
    if owner is None:  # locked, but its record is not written yet
        return f"{path}: another {command} is starting; wait for it to finish or stop it"
    return f"{path}: {owner.command} is already running ({owner.describe()}); wait for it to finish or stop it"


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there; assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _parse_owner(data: bytes) -> LockOwner | None:
    try:
        record = json.loads(data.decode("utf-8"))
        return LockOwner(int(record["pid"]), str(record["host"]), float(record["started"]), str(record["command"]))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None  # empty (killed before writing it) or not ours: nothing to honour


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_owner(fd: int, owner: LockOwner) -> None:
    data = (json.dumps(asdict(owner)) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.fsync(fd)


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd` (an owner may have deleted it meanwhile)."""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` and missing parents; returns those created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created: list[Path] = []
    for item in reversed(missing):
        try:
            item.mkdir(exist_ok=True)
        except OSError as exc:
            _remove_empty(created)
            raise SvsegError(f"{item}: cannot create the folder for a lock file ({exc.strerror})") from None
        created.append(item)
    return created


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders this lock created, innermost first, while they are empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            return
