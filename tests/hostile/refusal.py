"""The check every hostile case makes: refused in one line, nothing written, sources untouched.

A case is a command line plus the names its error line must hold (the offending file or
option). :func:`assert_refused` runs it through the real CLI (in process, so the suite stays
fast), then checks exit code 2, nothing on stdout, exactly one ``svseg: error:`` line on stderr
(the last line, naming every expected name, no traceback), and that every watched tree (the data
root and the test's own folder, sources and outputs alike) is as it was: the same entries, and
each file with the same size, modification time and SHA-256. No lock file is exempt: a refused
run must not leave its lock behind.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from typer.testing import CliRunner

from svseg.cli import app

runner = CliRunner()


@dataclass(frozen=True)
class Case:
    """One hostile command line and the names (file paths, options) its error line must contain."""

    args: list[str]
    names: tuple[str, ...]
    extra_watch: tuple[Path, ...] = field(default=())


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under `root` (links not followed): kind, and for files size, mtime and SHA-256."""
    entries: dict[str, tuple] = {}
    if not os.path.lexists(root):
        return entries
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            key = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                entries[key] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[key] = ("dir",)
            else:
                entries[key] = ("file", info.st_size, info.st_mtime_ns, _sha256(path))
    return entries


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:  # an unreadable source: its mode and size still count
        return f"unreadable ({exc.errno})"
    return digest.hexdigest()


def assert_refused(case: Case, *watched: Path) -> str:
    """Run `case`; assert the refusal contract over the `watched` trees. Returns the error line."""
    roots = [*watched, *case.extra_watch]
    before = {root: snapshot(root) for root in roots}
    result = runner.invoke(app, case.args)
    assert result.exception is None or isinstance(result.exception, SystemExit), _explain(result)
    assert result.exit_code == 2, _explain(result)
    assert result.stdout.strip() == "", _explain(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "svseg: error:" in line]
    assert len(errors) == 1 and lines[-1] == errors[0] and errors[0].startswith("svseg: error: "), _explain(result)
    assert "Traceback" not in result.stderr, _explain(result)
    for name in case.names:
        assert str(name) in errors[0], f"{name!r} not named in: {errors[0]}"
    for root in roots:
        after = snapshot(root)
        added = sorted(set(after) - set(before[root]))
        removed = sorted(set(before[root]) - set(after))
        changed = sorted(k for k in set(after) & set(before[root]) if after[k] != before[root][k])
        assert not (added or removed or changed), f"{root}: added {added}, removed {removed}, changed {changed}"
    return errors[0]


def _explain(result) -> str:
    return (f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
            f"exception: {result.exception!r}")
