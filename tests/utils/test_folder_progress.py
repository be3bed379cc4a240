"""folder_progress counts the files another process writes, and ends on the true count."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from svseg.utils.progress import folder_progress


@pytest.mark.parametrize("bars_on", [True, False])
def test_the_bar_follows_files_appearing_in_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       bars_on: bool) -> None:
    monkeypatch.setattr("svseg.utils.progress.progress_enabled", lambda: bars_on)
    folder = tmp_path / "out"
    seen: list[float] = []

    def writer() -> None:
        folder.mkdir()
        for k in range(5):
            (folder / f"case_{k}.pkl").write_bytes(b"x")
            (folder / f"case_{k}.b2nd").write_bytes(b"x")
            time.sleep(0.06)

    with folder_progress(folder, "*.pkl", 5, "preprocessing cases", interval=0.02) as progress:
        thread = threading.Thread(target=writer)
        thread.start()
        while thread.is_alive():
            seen.append(progress.tasks[0].completed)
            time.sleep(0.02)
        thread.join()
    assert progress.tasks[0].completed == 5 and progress.tasks[0].total == 5
    if bars_on:
        assert len(set(seen)) > 2  # it moved while the files came in
    else:
        assert set(seen) == {0}  # no watcher thread when bars are off; only the final count
    assert not any(t.name == "svseg-folder-progress" for t in threading.enumerate())
