"""kill -9 at several moments of import, plan-and-preprocess, train and predict; the rerun finishes the job.

Each test starts the real command line as a process with its own data root, waits for a moment
it can see on disk (a ``.partial`` import folder, the dataset lock, preprocessed cases, an epoch
line in nnU-Net's training log, masks in the output folder), kills it with SIGKILL and runs the
same command again (``--continue`` for training). The rerun must finish and leave exactly what an
uninterrupted run leaves: the same files, byte for byte where the work is deterministic (imported
cases, plans, preprocessed arrays, masks), the same JSON where a file records a time; training
must go on from the epoch its last checkpoint saved. Nothing of the killed run may remain: no
``.tmp`` file, no ``.partial`` folder, no lock file (the rerun takes the dead run's lock over).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from ..training.conftest import disk_image
from . import files
from .conftest import DATASET, MODEL

pytestmark = pytest.mark.slow

_LEFTOVER = re.compile(r"\.tmp(\.|$)|\.partial$")
_WAIT_S = 240.0


def _env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("nnUNet_")}
    return {**env, "SVSEG_HOME": str(home), "nnUNet_def_n_proc": "1", "PYTHONUNBUFFERED": "1"}


def _start(home: Path, args: list[str], log: Path) -> subprocess.Popen:
    """The CLI as its own process group (so its workers can be cleaned up after the kill)."""
    with open(log, "wb") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "svseg.cli", *args], env=_env(home), stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _run(home: Path, args: list[str], log: Path, timeout: float = 600.0) -> str:
    """Run the CLI to the end; returns its output, failing the test on a non-zero exit."""
    process = _start(home, args, log)
    try:
        code = process.wait(timeout=timeout)
    finally:
        _reap(process)
    output = log.read_text(errors="replace")
    assert code == 0, f"{args} exited {code}:\n{output[-4000:]}"
    return output


def _kill_when(process: subprocess.Popen, moment: Callable[[], bool], log: Path) -> None:
    """SIGKILL the command's own process as soon as `moment` holds (it must not finish first)."""
    deadline = time.monotonic() + _WAIT_S
    while not moment():
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before the moment to kill it:\n"
                        f"{log.read_text(errors='replace')[-4000:]}")
        if time.monotonic() > deadline:
            _reap(process)
            pytest.fail(f"the moment to kill never came:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    _reap(process)


def _reap(process: subprocess.Popen) -> None:
    """Stop what is left of the command's process group (orphaned workers) and wait for its leader."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)


def _leftovers(*roots: Path) -> list[Path]:
    """svseg's temporaries (``.NAME.XXXXXXXX.tmp...`` files, ``.partial`` folders) and lock files under `roots`."""
    found = []
    for root in roots:
        for folder, dirs, names in os.walk(root):
            found += [Path(folder) / n for n in dirs + names if _LEFTOVER.search(n) or n.endswith(".lock")]
    return found


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _same_tree(got: Path, expected: Path, json_without: Callable[[str, dict], dict] | None = None) -> None:
    """Same files with the same bytes; JSON files compared through `json_without` (their times left out),
    blosc2 arrays by their values (their container bytes differ from run to run)."""
    mine, theirs = _tree(got), _tree(expected)
    assert sorted(mine) == sorted(theirs)
    for name, data in mine.items():
        if json_without is not None and name.endswith(".json"):
            assert json_without(name, json.loads(data)) == json_without(name, json.loads(theirs[name])), name
        elif name.endswith(".b2nd"):
            assert np.array_equal(_b2nd(got / name), _b2nd(expected / name)), f"{name}: other values"
        else:
            assert data == theirs[name], f"{name} differs from the uninterrupted run"


def _b2nd(path: Path) -> np.ndarray:
    import blosc2

    return blosc2.open(str(path), mode="r")[...]


def _count(folder: Path, pattern: str) -> int:
    return len(list(folder.glob(pattern))) if folder.is_dir() else 0


# import ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def import_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """40 image/mask pairs, and the raw dataset an uninterrupted ``svseg import`` makes of them."""
    root = tmp_path_factory.mktemp("kill9_import")
    for kind in ("images", "labels"):
        (root / "src" / kind).mkdir(parents=True)
    rng = np.random.default_rng(5)
    for index in range(40):
        image, mask = disk_image(rng, (160, 160))
        PILImage.fromarray(image).save(root / "src" / "images" / f"c{index:02d}.png")
        PILImage.fromarray(mask * 255).save(root / "src" / "labels" / f"c{index:02d}.png")
    reference = root / "reference"
    _run(reference, ["import", "-i", str(root / "src"), "-n", "Killed"], root / "reference.log")
    yield root / "src", reference / "raw"


def _without_created(name: str, content: dict) -> dict:
    """dataset.json without the import's time stamp."""
    return {**content, "svseg": {k: v for k, v in content.get("svseg", {}).items() if k != "created"}}


@pytest.mark.parametrize("written", [0, 40])
def test_import_killed_while_writing_then_rerun(written: int, import_source: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    """Killed with `written` files in its ``.partial`` folder; the rerun imports exactly what one run would."""
    source, reference = import_source
    home, args = tmp_path / "home", ["import", "-i", str(source), "-n", "Killed"]

    def partial_files() -> int:
        return sum(_count(p, "**/*.png") for p in (home / "raw").glob(".*.partial")) if (home / "raw").is_dir() else -1

    process = _start(home, args, tmp_path / "killed.log")
    _kill_when(process, lambda: partial_files() >= written and any((home / "raw").glob(".*.partial")),
               tmp_path / "killed.log")
    assert not (home / "raw" / "Dataset001_Killed").exists()
    _run(home, args, tmp_path / "rerun.log")
    assert _leftovers(home, source) == []
    _same_tree(home / "raw", reference, _without_created)


# plan-and-preprocess ----------------------------------------------------------------------------------------------


def _write_raw(raw: Path, cases: int = 24, side: int = 192) -> None:
    """nnU-Net raw dataset Dataset811_Disks: `cases` grey PNGs with disks, as tests/training/conftest.py writes."""
    folder = raw / DATASET
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    for index in range(cases):
        image, label = disk_image(rng, (side, side))
        PILImage.fromarray(image).save(folder / "imagesTr" / f"disk_{index:03d}_0000.png")
        PILImage.fromarray(label).save(folder / "labelsTr" / f"disk_{index:03d}.png")
    dataset = {"channel_names": {"0": "rescale_to_0_1"}, "labels": {"background": 0, "disk": 1},
               "numTraining": cases, "file_ending": ".png"}
    (folder / "dataset.json").write_text(json.dumps(dataset))


PLAN = ["plan-and-preprocess", "-d", "Disks", "--preset", "cpu_quick", "-np", "1"]


@pytest.fixture(scope="module")
def planned_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with the raw disks and what an uninterrupted plan-and-preprocess makes of them."""
    home = tmp_path_factory.mktemp("kill9_plan")
    _write_raw(home / "raw")
    _run(home, PLAN, home / "reference.log")
    return home


def _preprocessed_json(name: str, content: dict) -> dict:
    return content  # plans, fingerprint and records hold no time: compared whole


@pytest.mark.parametrize("moment", ["fingerprinting", "preprocessing"])
def test_plan_and_preprocess_killed_then_rerun(moment: str, planned_reference: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(planned_reference / "raw", home / "raw")  # times kept: the same raw files
    folder = home / "preprocessed" / DATASET
    lock = folder / ".plan-and-preprocess.lock"
    moments = {
        "fingerprinting": lambda: lock.is_file() and lock.stat().st_size > 0,
        "preprocessing": lambda: _count(folder / "svsegPlans_2d", "*.pkl") >= 3,
    }
    process = _start(home, PLAN, tmp_path / "killed.log")
    _kill_when(process, moments[moment], tmp_path / "killed.log")
    assert lock.is_file() and not (folder / "svsegPlans_2d.complete.json").exists()
    output = _run(home, PLAN, tmp_path / "rerun.log")
    assert "taking over the lock" in " ".join(output.split())
    assert _leftovers(home) == []
    _same_tree(folder, planned_reference / "preprocessed" / DATASET, _preprocessed_json)


# train ------------------------------------------------------------------------------------------------------------


TRAIN = ["train", "-d", "Disks", "-f", "0", "--device", "cpu", "--epochs", "4", "--iters-per-epoch", "2",
         "--batch-size", "2", "--num-workers", "0"]


def _epochs_logged(fold: Path) -> list[list[int]]:
    """The ``Epoch N`` lines of each nnU-Net training log in `fold`, oldest log first."""
    logs = sorted(fold.glob("training_log_*.txt"), key=lambda p: p.stat().st_mtime_ns)
    return [[int(m) for m in re.findall(r"^\S+ \S+: Epoch (\d+) *$", p.read_text(), re.M)] for p in logs]


@pytest.mark.parametrize("moment", ["epoch_0", "epoch_2", "final_validation"])
def test_train_killed_then_continue_resumes_from_the_last_checkpoint(moment: str, planned_home: Path,
                                                                     tmp_path: Path) -> None:
    from svseg.training.checkpoints import read_checkpoint

    home = tmp_path / "home"
    for kind in ("raw", "preprocessed"):
        shutil.copytree(planned_home / kind, home / kind)
    fold = home / MODEL / "fold_0"
    moments = {
        "epoch_0": lambda: any(0 in epochs for epochs in _epochs_logged(fold)) if fold.is_dir() else False,
        "epoch_2": lambda: any(2 in epochs for epochs in _epochs_logged(fold)) if fold.is_dir() else False,
        "final_validation": lambda: (fold / "checkpoint_final.pth").is_file(),
    }
    process = _start(home, TRAIN, tmp_path / "killed.log")
    _kill_when(process, moments[moment], tmp_path / "killed.log")
    assert (home / MODEL / ".train_fold_0.lock").is_file()
    saved = next((fold / n for n in ("checkpoint_final.pth", "checkpoint_latest.pth") if (fold / n).is_file()), None)
    resume_epoch = read_checkpoint(saved)["current_epoch"] if saved is not None else 0
    output = _run(home, [*TRAIN, "--continue"], tmp_path / "rerun.log")
    assert "taking over the lock" in " ".join(output.split())
    rerun_epochs = _epochs_logged(fold)[-1]
    if moment == "final_validation":
        assert rerun_epochs == [] and resume_epoch == 4  # finished: only the validation is run again
    else:
        assert rerun_epochs == list(range(resume_epoch, 4))
        assert resume_epoch == {"epoch_0": 0, "epoch_2": 2}[moment]
    assert read_checkpoint(fold / "checkpoint_final.pth")["current_epoch"] == 4
    assert (fold / "validation" / "summary.json").is_file()
    assert _leftovers(home) == []


# predict ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def predict_reference(planned_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """16 scans of 16 sizes (one forward pass each), the model folder, and the masks one uninterrupted run writes."""
    root = tmp_path_factory.mktemp("kill9_predict")
    for index in range(16):
        files.grey_png(root / "scans" / f"s{index:02d}.png", seed=index, shape=(64 + 8 * index, 64 + 4 * index))
    shutil.copytree(planned_home / MODEL, root / "model")
    _run(root / "home", _predict_args(root / "scans", root / "reference", root / "model"), root / "reference.log")
    return root / "scans", root / "model", root / "reference"


def _predict_args(scans: Path, out: Path, model: Path) -> list[str]:
    return ["predict", "-i", str(scans), "-o", str(out), "-m", str(model), "--device", "cpu", "--no-tta"]


@pytest.mark.parametrize("written", [1, 8])
def test_predict_killed_after_some_masks_then_rerun(written: int, predict_reference: tuple[Path, Path, Path],
                                                   tmp_path: Path) -> None:
    scans, model, reference = predict_reference
    out, args = tmp_path / "masks", _predict_args(scans, tmp_path / "masks", model)
    process = _start(tmp_path / "home", args, tmp_path / "killed.log")
    _kill_when(process, lambda: _count(out, "s*.png") >= written, tmp_path / "killed.log")
    assert _count(out, "s*.png") < 16
    _run(tmp_path / "home", args, tmp_path / "rerun.log")
    assert _leftovers(out, scans, model) == []
    _same_tree(out, reference)
