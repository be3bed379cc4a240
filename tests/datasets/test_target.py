"""Choosing the dataset id and folder for an import."""

from __future__ import annotations

from pathlib import Path

import pytest

from svseg.datasets.target import ImportResult, claim_target
from svseg.errors import SvsegError
from svseg.paths import DatasetRef, preprocessed_root, raw_root


def test_next_free_id_skips_ids_used_in_any_root() -> None:
    (raw_root() / "Dataset001_A").mkdir(parents=True)
    (preprocessed_root() / "Dataset002_B").mkdir(parents=True)
    assert claim_target("C", None) == DatasetRef(3, "C")
    assert claim_target("C", 42) == DatasetRef(42, "C")


@pytest.mark.parametrize(
    ("name", "dataset_id", "message"),
    [
        ("A", None, "already exists as Dataset001_A"),
        ("a", None, "already exists as Dataset001_A"),
        ("New", 1, "id 1 is already used by Dataset001_A"),
        ("New", 1000, "1 to 999"),
        ("../escape", None, "invalid dataset name"),
        ("a/b", None, "invalid dataset name"),
    ],
)
def test_clashes_and_bad_names_are_refused(name: str, dataset_id: int | None, message: str) -> None:
    (raw_root() / "Dataset001_A").mkdir(parents=True)
    with pytest.raises(SvsegError, match=message):
        claim_target(name, dataset_id)


def test_summary_lines() -> None:
    ref = DatasetRef(4, "X")
    result = ImportResult(ref, ref.raw_dir, "paired-2d", 3, 1, {"background": 0, "cell": 1}, {"0": "zscore"}, ".png")
    lines = result.summary()
    assert lines[0].startswith("Dataset004_X (imported from a paired-2d folder)")
    assert "3 training, 1 test" in lines[1] and "cell=1" in lines[2] and "0=zscore" in lines[3]


# --- through the CLI: the raw root checked before any case is read, killed imports cleared -------


def _import(source: Path, name: str = "Cells"):
    from typer.testing import CliRunner

    from svseg.cli import app

    return CliRunner().invoke(app, ["import", "-i", str(source), "-n", name])


def test_an_unwritable_raw_root_fails_before_any_case_is_read(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from .makers import paired_2d, tree_hashes

    source = paired_2d(tmp_path / "source")
    (source / "images" / "case0.png").write_bytes(b"not a PNG")  # would be the first problem if read first
    blocker = tmp_path / "data.txt"
    blocker.write_text("a file where the data root should be")
    monkeypatch.setenv("nnUNet_raw", str(blocker / "raw"))
    before = tree_hashes(source)
    result = _import(source)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("svseg: error:")]  # after the layout
    assert errors == [f"svseg: error: {blocker / 'raw'}: cannot create the raw data folder: {blocker} is a file, "
                      "not a folder"]
    assert tree_hashes(source) == before and blocker.read_text() == "a file where the data root should be"


def test_the_partial_folder_of_a_killed_import_is_removed_by_the_next(tmp_path: Path) -> None:
    from .makers import paired_2d

    killed = raw_root() / ".Dataset001_Cells.a1b2c3d4.partial"  # what kill -9 during an import leaves
    (killed / "imagesTr").mkdir(parents=True)
    (killed / "imagesTr" / "case_000_0000.png").write_bytes(b"half written")
    result = _import(paired_2d(tmp_path / "source"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in raw_root().iterdir()) == ["Dataset001_Cells"]
