"""`svseg plan-and-preprocess` end to end through the CLI: output, idempotence, recovery, bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from svseg.cli import app
from svseg.planning.plans import load_plans

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["plan-and-preprocess", *args])


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_png_dataset_end_to_end_and_idempotent(png_dataset: Path, isolated_data_root: Path) -> None:
    raw_before = _tree_digest(png_dataset)
    result = _run("-d", "Png", "--preset", "cpu_quick", "-np", "1")
    assert result.exit_code == 0, result.output
    assert "Dataset001_Png: 4 cases, 4 slices (0 without foreground), preset cpu_quick" in result.output
    assert "ultra_small 4 (4), small 8 (4), all 8 (4)" in result.output
    assert "- patch size (px): [128, 128]" in result.output and "preprocessing: done" in result.output
    folder = isolated_data_root / "preprocessed" / "Dataset001_Png"
    data = folder / "svsegPlans_2d"
    assert sorted(p.name for p in data.glob("*.b2nd")) == sorted(
        [f"case{i}.b2nd" for i in range(4)] + [f"case{i}_seg.b2nd" for i in range(4)])
    plans_text = (folder / "svsegPlans.json").read_text(encoding="utf-8")
    assert load_plans(folder / "svsegPlans.json").preset == "cpu_quick"
    fingerprint_mtime = (folder / "dataset_fingerprint.json").stat().st_mtime_ns

    again = _run("-d", "1", "--preset", "cpu_quick", "-np", "1")
    assert again.exit_code == 0, again.output
    assert "preprocessing: up to date" in again.output
    assert (folder / "svsegPlans.json").read_text(encoding="utf-8") == plans_text
    assert (folder / "dataset_fingerprint.json").stat().st_mtime_ns == fingerprint_mtime
    assert _tree_digest(png_dataset) == raw_before  # the raw data is never touched

    (data / "case2.b2nd").unlink()  # as if preprocessing had been killed
    redone = _run("-d", "Dataset001_Png", "--preset", "cpu_quick", "-np", "1")
    assert redone.exit_code == 0, redone.output
    assert "preprocessing: done" in redone.output and (data / "case2.b2nd").is_file()


def test_no_preprocess_then_clean(nifti_dataset: Path, isolated_data_root: Path) -> None:
    result = _run("-d", "Vol", "--preset", "svanet_paper", "-np", "1", "--no-preprocess", "--gpu-memory-gb", "40")
    assert result.exit_code == 0, result.output
    assert "3 cases, 18 slices (12 without foreground)" in result.output
    assert "preprocessing: skipped" in result.output
    folder = isolated_data_root / "preprocessed" / "Dataset002_Vol"
    assert not (folder / "svsegPlans_2d").exists()
    (folder / "svsegPlans.json").write_text("{ truncated")
    corrupt = _run("-d", "Vol", "--no-preprocess")
    assert corrupt.exit_code == 2
    assert "svsegPlans.json: plans file is not valid JSON" in corrupt.output.replace("\n", "")
    cleaned = _run("-d", "Vol", "--preset", "svanet_paper", "-np", "1", "--no-preprocess", "--clean")
    assert cleaned.exit_code == 0, cleaned.output
    assert load_plans(folder / "svsegPlans.json").configuration == "2d"


def _assert_user_error(result, *fragments: str) -> None:
    output = result.output.replace("\n", "")
    assert result.exit_code == 2, result.output
    assert output.startswith("svseg: error:"), result.output
    for fragment in fragments:
        assert fragment in output


def test_unknown_dataset(isolated_data_root: Path) -> None:
    _assert_user_error(_run("-d", "Nope"), "unknown dataset 'Nope'")
    assert not (isolated_data_root / "preprocessed").exists()


def test_dataset_never_imported(isolated_data_root: Path) -> None:
    (isolated_data_root / "preprocessed" / "Dataset005_Ghost").mkdir(parents=True)
    _assert_user_error(_run("-d", "Ghost"), "Dataset005_Ghost/dataset.json", "import it first")


def test_corrupt_preprocessed_folder(png_dataset: Path, isolated_data_root: Path) -> None:
    folder = isolated_data_root / "preprocessed" / "Dataset001_Png"
    folder.mkdir(parents=True)
    (folder / "dataset_fingerprint.json").write_text('{"spacings": [1, 2')
    _assert_user_error(_run("-d", "Png", "-np", "1"), "dataset_fingerprint.json: fingerprint is not valid JSON")
    (folder / "dataset_fingerprint.json").unlink()
    folder.rmdir()
    folder.write_text("not a folder")
    _assert_user_error(_run("-d", "Png"), "Dataset001_Png: expected the preprocessed dataset folder")


@pytest.mark.parametrize("problem", ["no_labels_key", "missing_label_file"])
def test_broken_raw_dataset(png_dataset: Path, problem: str) -> None:
    if problem == "no_labels_key":
        description = json.loads((png_dataset / "dataset.json").read_text(encoding="utf-8"))
        del description["labels"]
        (png_dataset / "dataset.json").write_text(json.dumps(description))
        _assert_user_error(_run("-d", "Png"), "dataset.json: missing key(s) labels")
    else:
        (png_dataset / "labelsTr" / "case1.png").unlink()
        _assert_user_error(_run("-d", "Png"), "labelsTr/case1.png: file of case case1 is missing")


def test_masks_saved_as_0_255_are_named(png_dataset: Path) -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[10:20, 10:20] = 255
    Image.fromarray(mask).save(png_dataset / "labelsTr" / "case3.png")
    _assert_user_error(_run("-d", "Png", "-np", "1", "--no-preprocess"),
                       "labelsTr/case3.png: unexpected label value(s) 255")


# --- checked before fingerprinting: readable raw files, a writable folder, one run per dataset ---


@pytest.mark.parametrize("problem", ["garbage", "empty"])
def test_an_unreadable_raw_file_is_named_and_leaves_no_folder(png_dataset: Path, isolated_data_root: Path,
                                                              problem: str) -> None:
    broken = png_dataset / "imagesTr" / "case2_0000.png"
    if problem == "garbage":  # opens, but no reader can decode it: found when nnU-Net's fingerprint fails
        broken.write_bytes(b"\x89PNG\r\n\x1a\n then nothing a decoder can use")
        fragments = (f"{broken}: image of case case2 cannot be read by nnU-Net's ",)
    else:  # found by the cheap check of every file before planning
        broken.write_bytes(b"")
        fragments = (f"{broken}: file of case case2 is empty (0 bytes)",)
    result = _run("-d", "Png", "--preset", "cpu_quick", "-np", "2", "--no-preprocess")
    _assert_user_error(result, *fragments)
    assert [line for line in result.output.splitlines() if line.startswith("svseg: error:")] == [
        result.output.strip().splitlines()[-1]]
    assert not (isolated_data_root / "preprocessed").exists()  # no empty preprocessed folder left behind


def test_an_unwritable_preprocessed_folder_fails_before_fingerprinting(
        png_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor

    def must_not_run(*args, **kwargs):
        raise AssertionError("fingerprinting started before the output folder was checked")

    monkeypatch.setattr(DatasetFingerprintExtractor, "run", must_not_run)
    blocker = tmp_path / "preprocessed.txt"
    blocker.write_text("a file")
    monkeypatch.setenv("nnUNet_preprocessed", str(blocker / "pre"))
    folder = blocker / "pre" / "Dataset001_Png"
    _assert_user_error(_run("-d", "Png"), f"{folder}: cannot create the preprocessed dataset folder: {blocker} is a "
                                          "file, not a folder")
    assert blocker.read_text() == "a file"


_HOLDER = (
    "import sys, time\n"
    "from svseg.utils.locks import run_lock\n"
    "with run_lock(sys.argv[1], 'svseg plan-and-preprocess -d Dataset001_Png'):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(60)\n"
)


def test_a_second_run_of_one_dataset_is_refused(png_dataset: Path, isolated_data_root: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    folder = isolated_data_root / "preprocessed" / "Dataset001_Png"
    lock = folder / ".plan-and-preprocess.lock"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        result = _run("-d", "Png", "-np", "1")
        _assert_user_error(result, f"{lock}: svseg plan-and-preprocess -d Dataset001_Png is already running "
                                   f"(pid {holder.pid} on ")
        assert len(result.output.strip().splitlines()) == 1
        assert [p.name for p in folder.iterdir()] == [".plan-and-preprocess.lock"]  # the refused run wrote nothing
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)


def test_temporaries_of_a_killed_run_are_removed_by_the_next(png_dataset: Path, isolated_data_root: Path) -> None:
    folder = isolated_data_root / "preprocessed" / "Dataset001_Png"
    leftovers = [folder / ".svsegPlans.json.ab12cd34.tmp.json", folder / ".dataset_fingerprint.json.x_9y8z7w.tmp.json"]
    folder.mkdir(parents=True)
    for path in leftovers:
        path.write_bytes(b"{")  # what kill -9 while writing the plans or the fingerprint leaves
    result = _run("-d", "Png", "--preset", "cpu_quick", "-np", "1", "--no-preprocess")
    assert result.exit_code == 0, result.output
    assert not any(path.exists() for path in leftovers)
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # nor the lock, released
