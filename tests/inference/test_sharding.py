"""Sharded prediction: parts of one input folder, predicted separately, make the unsharded result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from svseg.cli import app
from svseg.errors import SvsegError
from svseg.inference.api import predict
from svseg.inference.inputs import Case
from svseg.inference.sharding import predict_in_processes, select_part

from .models import make_model_folder

NAMES = [f"scan_{index:02d}.png" for index in range(7)]


def _scans(folder: Path) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(3)
    for index, name in enumerate(NAMES):
        image = (rng.random((40 + index, 36)) * 120).astype(np.uint8)
        image[8:20, 6:16] += 120
        PILImage.fromarray(image).save(folder / name)
    return folder


def _bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_parts_are_disjoint_cover_every_case_and_ignore_the_input_order(tmp_path: Path) -> None:
    cases = [Case(tmp_path / "in" / name, tmp_path / "out" / name) for name in reversed(NAMES)]
    parts = [select_part(cases, 3, k) for k in range(3)]
    names = [[case.output.name for case in part] for part in parts]
    assert names == [NAMES[0::3], NAMES[1::3], NAMES[2::3]]  # nnU-Net's rule on the sorted names
    assert select_part(list(reversed(cases)), 3, 1) == parts[1]
    assert select_part(cases, 1, 0) == cases
    assert select_part(cases, 10, 9) == []  # more parts than cases: some parts are empty


@pytest.mark.parametrize(("num_parts", "part_id", "message"), [
    (0, 0, "--num-parts 0: must be at least 1"),
    (3, 3, "--part-id 3: must be 0 to 2 for --num-parts 3"),
    (3, -1, "--part-id -1"),
])
def test_a_part_that_does_not_exist_is_refused_before_any_work(
    planned: dict, tmp_path: Path, num_parts: int, part_id: int, message: str
) -> None:
    folder = make_model_folder(tmp_path / "results", planned["png"])
    scans = _scans(tmp_path / "scans")
    result = CliRunner().invoke(app, ["predict", "-i", str(scans), "-o", str(tmp_path / "masks"), "-m", str(folder),
                                      "--num-parts", str(num_parts), "--part-id", str(part_id)])
    assert result.exit_code == 2 and message in result.output.replace("\n", "")
    assert not (tmp_path / "masks").exists()


def test_three_parts_make_the_unsharded_masks_byte_for_byte_and_a_rerun_does_what_is_left(
    planned: dict, tmp_path: Path
) -> None:
    folder = make_model_folder(tmp_path / "results", planned["png"])
    scans = _scans(tmp_path / "scans")
    whole = predict(scans, tmp_path / "whole", model_dir=folder, device="cpu")
    assert len(whole.written) == len(NAMES)
    written = [predict(scans, tmp_path / "parts", model_dir=folder, device="cpu", num_parts=3, part_id=k).written
               for k in range(3)]
    assert sorted(p.name for part in written for p in part) == NAMES  # each case once
    assert [len(part) for part in written] == [3, 2, 2]
    assert _bytes(tmp_path / "parts") == _bytes(tmp_path / "whole")

    # part 1 "killed" after its first mask: the other mask is missing, a temporary was left mid-write
    lost = written[1][1]
    lost.unlink()
    (lost.parent / f".{lost.name}.abcd1234.tmp.png").write_bytes(b"half a png")
    again = predict(scans, tmp_path / "parts", model_dir=folder, device="cpu", num_parts=3, part_id=1)
    assert again.written == [lost] and [p.name for p in again.skipped] == [written[1][0].name]
    assert _bytes(tmp_path / "parts") == _bytes(tmp_path / "whole")  # the temporary is gone too


def test_num_gpus_needs_gpus(planned: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    folder = make_model_folder(tmp_path / "results", planned["png"])
    scans = _scans(tmp_path / "scans")
    with pytest.raises(SvsegError, match="--num-gpus 2: needs --device cuda"):
        predict(scans, tmp_path / "masks", model_dir=folder, device="cpu", num_gpus=2)
    with pytest.raises(SvsegError, match="--num-gpus 0"):
        predict(scans, tmp_path / "masks", model_dir=folder, device="cpu", num_gpus=0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(SvsegError, match="--num-gpus 2: 1 CUDA GPU"):
        predict(scans, tmp_path / "masks", model_dir=folder, device="cuda", num_gpus=2)


def test_processes_side_by_side_predict_the_part_together(planned: dict, tmp_path: Path) -> None:
    """What --num-gpus does, on the CPU: 2 spawned processes share part 0 of 2 (cases 0, 2, 4, 6)."""
    folder = make_model_folder(tmp_path / "results", planned["png"])
    scans = _scans(tmp_path / "scans")
    result = predict_in_processes(2, 2, 0, False, inputs=scans, output_dir=tmp_path / "masks", model_dir=folder,
                                  device="cpu")
    assert sorted(p.name for p in result.written) == NAMES[0::2]
    assert result.device == "cpu x 2" and result.num_slices == 4
    whole = predict(scans, tmp_path / "whole", model_dir=folder, device="cpu")
    assert _bytes(tmp_path / "masks") == {name: data for name, data in _bytes(tmp_path / "whole").items()
                                          if name in NAMES[0::2]}
    assert len(whole.written) == len(NAMES)
